"""The fault matrix: every fault a fake provider can produce x (streaming, non-streaming) x
(with a healthy fallback, without one), through a real faregate server and the openai SDK.

Each cell asserts what the client sees (the fallback's answer; a clean error with the right
status; or, for a fault after the first streamed byte, the partial content then an in-band
error and never a switch), the attempt count (``x-faregate-attempts``), the primary's breaker
state afterwards, and the recorded usage and cost.

The primary (OpenAI wire) has ``max_attempts: 2`` and a breaker that opens after 2
consecutive failures; the fallback is an Anthropic-wire fake. With a fallback, a transient
fault costs the primary one attempt (faregate fails over rather than wait); alone, it is
retried, so two attempts and an open circuit.

Rows changed on purpose by the failover defaults (``failover:`` in docs/reliability.md):
a reset or a 500/502/503 now gets one quick retry of the primary before the fallback
(``quick``: two primary attempts with a fallback too); a Retry-After of at most 3 s is now
waited out on the primary (``429+short-retry-after``; the long one keeps the old row); one
malformed stream event is now skipped, so ``malformed-sse`` streams the primary's answer. Backoff sleeps are recorded,
not slept (backoff itself is tested in tests/pipeline/test_executor.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest

from .conftest import dead_port, model_config

PRIMARY_TEXT = "The primary answers in four parts."
BACKUP_TEXT = "The backup answered this one."
PRIMARY_USAGE = {"input_tokens": 11, "output_tokens": 7}
BACKUP_USAGE = {"input_tokens": 13, "output_tokens": 5}
PRIMARY_COST = (11 * 1.0 + 7 * 2.0) / 1e6
BACKUP_COST = (13 * 3.0 + 5 * 15.0) / 1e6


@dataclass(frozen=True)
class Fault:
    """How a fault shows, per mode: ``before`` (fails before any content: fails over or is an
    error with ``status``), ``after`` (streaming: partial content, then an in-band error), or
    ``none`` (the fault does not apply to the mode: a normal answer)."""

    name: str
    behaviour: dict | None  # None: connection refused (the primary points at a dead port)
    stream: str
    plain: str
    status: int = 502  # what the client gets without a fallback
    transient: bool = True  # retried in place when alone (429s are not: they cool down)
    plain_behaviour: dict | None = None  # when non-streaming calls need another behaviour
    quick: str = ""  # "both" / "plain": modes where the primary gets a quick retry (or a short wait)

    def primary_attempts(self, stream: bool, with_fallback: bool) -> int:
        quick = self.quick == "both" or (self.quick == "plain" and not stream)
        return 2 if quick or (self.transient and not with_fallback) else 1


FAULTS = [
    Fault("500", {"status": 500}, "before", "before", quick="both"),
    Fault("502", {"status": 502}, "before", "before", quick="both"),
    Fault("503", {"status": 503}, "before", "before", quick="both"),
    Fault("529", {"status": 529}, "before", "before"),
    Fault(
        "429+short-retry-after",
        {"status": 429, "retry_after_s": 3},
        "before",
        "before",
        status=429,
        transient=False,
        quick="both",
    ),
    Fault("429+long-retry-after", {"status": 429, "retry_after_s": 5}, "before", "before", status=429, transient=False),
    Fault("429", {"status": 429}, "before", "before", status=429, transient=False),
    Fault("connection-refused", None, "before", "before"),
    # streamed: headers at once, then no content within ttfb; non-streamed: no headers within ttfb
    Fault("ttfb-timeout", {"ttft_ms": 1500}, "before", "before", status=504, plain_behaviour={"delay_ms": 1500}),
    # non-streamed: half the body, then silence (sock_read gives up after ttfb)
    Fault("stall-mid-stream", {"stall_after_chunks": 2}, "after", "before", status=504),
    Fault("cut-before-first-chunk", {"cut_after_chunks": 0}, "before", "before", quick="both"),
    Fault("cut-after-2-chunks", {"cut_after_chunks": 2}, "after", "before", quick="plain"),
    Fault("malformed-sse", {"malformed_sse": True}, "none", "none"),
    # non-streamed: a 200 whose body is the protocol's error object
    Fault("200-then-error-event", {"error_event_after_200": True}, "before", "before"),
    # (a gap, so the first text chunk reaches the gateway, and the client, on its own)
    Fault("error-event-after-chunks", {"error_event_after_200": 3, "chunk_gap_ms": 60}, "after", "before"),
    Fault("malformed-json", {"malformed_json": True}, "none", "before"),
    Fault("wrong-content-type", {"content_type": "text/html"}, "before", "before"),
]


def _script_for(f: Fault, stream: bool) -> list[dict]:
    fault = f.behaviour if stream or f.plain_behaviour is None else f.plain_behaviour
    b = {**(fault or {}), "text": PRIMARY_TEXT, "chunks": 4, "usage": PRIMARY_USAGE}
    return [b] * 4  # every attempt the primary gets meets the fault


@pytest.mark.parametrize("with_fallback", [True, False], ids=["fallback", "alone"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "plain"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault(fault: Fault, stream: bool, with_fallback: bool, fakes, serve):
    primary, backup = fakes
    url = f"http://127.0.0.1:{dead_port()}/v1" if fault.behaviour is None else f"{primary.base}/v1"
    srv = await serve(model_config(url, backup.base if with_fallback else None))
    if fault.behaviour is not None:
        await primary.script(*_script_for(fault, stream))
    await backup.script({"text": BACKUP_TEXT, "usage": BACKUP_USAGE})
    client = srv.client()
    kind = fault.stream if stream else fault.plain
    messages = [{"role": "user", "content": "hello"}]

    if kind == "none":  # the fault does not exist in this mode: a normal answer from the primary
        text, headers = await _ask(client, messages, stream)
        assert text == PRIMARY_TEXT and headers["x-faregate-attempts"] == "1"
        assert srv.breaker("primary") == "closed"
        ctx = await srv.last_context()
        assert (ctx.usage.input_tokens, ctx.usage.output_tokens) == (11, 7)
        return

    if kind == "after":  # streamed content reached the client: never switch, in-band error
        raw = await client.chat.completions.with_raw_response.create(model="primary", messages=messages, stream=True)
        assert raw.headers["x-faregate-attempts"] == "1"
        assert raw.headers["x-faregate-model"] == "primary" and "x-faregate-fallback" not in raw.headers
        got = []
        with pytest.raises(openai.APIError) as ei:
            async for chunk in raw.parse():
                if chunk.choices and chunk.choices[0].delta.content:
                    got.append(chunk.choices[0].delta.content)
        partial = "".join(got)
        assert partial and PRIMARY_TEXT.startswith(partial) and partial != PRIMARY_TEXT
        assert ei.value.message  # the in-band error says what went wrong
        ctx = await srv.last_context()
        assert ctx.answered_model == "primary" and len(ctx.attempts) == 1
        assert ctx.failed_after_first_byte and ctx.status >= 500
        assert ctx.usage.total_tokens == 0 and ctx.cost_usd == 0  # OpenAI reports usage only at the end
        assert srv.breaker("primary") == "closed" and srv.deployment("primary").breaker.consecutive_failures == 1
        assert [r["disconnected"] for r in await backup.requests()] == []  # the backup was never called
        return

    # before the first byte
    attempts = fault.primary_attempts(stream, with_fallback)
    breaker = "open" if attempts == 2 and fault.transient else "closed"
    if with_fallback:
        text, headers = await _ask(client, messages, stream)
        assert text == BACKUP_TEXT
        assert headers["x-faregate-attempts"] == str(attempts + 1)
        assert headers["x-faregate-model"] == "backup" and headers["x-faregate-fallback"] == "backup"
        ctx = await srv.last_context()
        assert [a.status for a in ctx.attempts][-1] == "ok" and ctx.attempts[-1].model == "backup"
        assert (ctx.usage.input_tokens, ctx.usage.output_tokens) == (13, 5)
        assert ctx.cost_usd == pytest.approx(BACKUP_COST)
        if not stream:
            assert float(headers["x-faregate-cost-usd"]) == pytest.approx(BACKUP_COST)
    else:
        with pytest.raises(openai.APIStatusError) as ei:
            await _ask(client, messages, stream)
        err = ei.value
        assert err.status_code == fault.status, err.message
        assert err.response.headers["x-faregate-attempts"] == str(attempts)
        body = err.body if isinstance(err.body, dict) else {}
        assert body.get("message"), err.body  # the OpenAI envelope, with a message
        assert "sk-primary-secret" not in err.response.text
        if fault.behaviour and fault.behaviour.get("retry_after_s"):
            assert err.response.headers["retry-after"] == str(fault.behaviour["retry_after_s"])
        ctx = await srv.last_context()
        assert ctx.usage.total_tokens == 0 and ctx.cost_usd == 0
    ctx = await srv.last_context()
    assert len(ctx.attempts) == attempts + (1 if with_fallback else 0)
    assert srv.breaker("primary") == breaker
    assert srv.deployment("primary").breaker.consecutive_failures == (attempts if fault.transient else 0)
    if fault.status == 429:
        assert srv.deployment("primary").cooling()
    dep = srv.deployment("primary")
    assert dep.in_flight == 0 and dep.last_error
    if fault.behaviour is not None:
        assert len(await primary.requests()) == attempts


async def _ask(client: openai.AsyncOpenAI, messages: list[dict], stream: bool) -> tuple[str, dict]:
    raw = await client.chat.completions.with_raw_response.create(model="primary", messages=messages, stream=stream)
    if stream:
        parts = []
        async for chunk in raw.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts), raw.headers
    return raw.parse().choices[0].message.content, raw.headers
