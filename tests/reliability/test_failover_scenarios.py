"""The failover fault suite: every scenario a client would want rescued, through a real faregate
server and the official openai SDK, streaming and not, with real sleeps (time is asserted).

The primary is an OpenAI-wire fake, the fallback an Anthropic-wire fake (which continues an
assistant prefill, so a cut stream can be resumed on it). Each scenario asserts the client's
outcome (a complete answer, or a clean error; never a truncated success), the time it took,
how often each fake was called, and the request-log row's usage, cost and attempts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import openai
import pytest

from faregate.pipeline.request_log_step import build_record

from .conftest import model_config

TEXT = "The primary answers this in several clear parts."
BACKUP_TEXT = "The backup answered this one."
P_USAGE = {"input_tokens": 11, "output_tokens": 7}
B_USAGE = {"input_tokens": 13, "output_tokens": 5}
P_COST = (11 * 1.0 + 7 * 2.0) / 1e6
B_COST = (13 * 3.0 + 5 * 15.0) / 1e6
MSG = [{"role": "user", "content": "hello"}]


@dataclass(frozen=True)
class Scenario:
    """``primary``: the primary's scripted behaviours; ``answer``: "primary", "backup", "resumed"
    or "error" (a clean error with ``status``); ``calls``: (primary, backup) request counts;
    ``max_s``/``min_s``: bounds on the time to the whole answer."""

    name: str
    primary: list[dict]
    answer: str
    calls: tuple[int, int]
    max_s: float
    min_s: float = 0.0
    status: int = 0
    backup: list[dict] = field(default_factory=list)
    modes: tuple[bool, ...] = (False, True)
    model: dict = field(default_factory=dict)  # extra primary model config


def ok(**kw) -> dict:
    return {"text": TEXT, "chunks": 4, "usage": P_USAGE, **kw}


SCENARIOS = [
    # A short Retry-After is waited out on the primary; a long one falls back at once.
    Scenario("429-short-retry-after", [ok(status=429, retry_after_s=1), ok()], "primary", (2, 0), 1.8, min_s=1.0),
    Scenario("429-long-retry-after", [ok(status=429, retry_after_s=20)], "backup", (1, 1), 1.0),
    Scenario("429-persistent", [ok(status=429)] * 4, "backup", (1, 1), 1.0),
    # One quick retry (<= 250 ms) of the primary on a transient 5xx or a reset.
    Scenario("500-once", [ok(status=500), ok()], "primary", (2, 0), 0.8),
    Scenario("503-persistent", [ok(status=503)] * 4, "backup", (2, 1), 1.0),
    Scenario("tcp-reset", [ok(cut_after_chunks=0), ok()], "primary", (2, 0), 0.8),
    # Silent or slow upstreams cost the hedge delay (0.3 s here), not the 3 s first-byte timeout.
    Scenario("no-response", [ok(delay_ms=10_000)], "backup", (1, 1), 1.2),
    Scenario("slow-first-token", [ok(ttft_ms=2500)], "backup", (1, 1), 1.2),
    # Mid-stream faults: the stream is resumed on the fallback (stream_resume: true).
    Scenario("stream-cut", [ok(cut_after_chunks=3)], "resumed", (1, 1), 1.0, modes=(True,)),
    Scenario("stream-stall", [ok(stall_after_chunks=3)], "resumed", (1, 1), 1.6, min_s=0.5, modes=(True,)),
    # Non-streamed, a cut body is a reset: one quick retry.
    Scenario("body-cut", [ok(cut_after_chunks=1), ok()], "primary", (2, 0), 0.8, modes=(False,)),
    Scenario("malformed-chunk", [ok(malformed_sse=True)], "primary", (1, 0), 0.8, modes=(True,)),
    Scenario("two-malformed-chunks", [ok(malformed_sse=2)], "backup", (1, 1), 1.0, modes=(True,)),
    Scenario("missing-done", [ok(omit_done=True)], "primary", (1, 0), 0.8, modes=(True,)),
    Scenario(
        "context-length",
        [ok(status=400, error_message="This model's maximum context length is 8192 tokens")],
        "backup",
        (1, 1),
        1.0,
        model={"context_fallback": "backup"},
    ),
    Scenario(
        "content-filter-refusal",
        [ok(status=400, error_message="Your request was rejected by the content_filter policy")],
        "error",
        (1, 0),
        0.8,
        status=400,
    ),
    # The fallback refuses the prefill: the in-band error, as without resume (never a truncated success).
    Scenario(
        "fallback-rejects-prefill",
        [ok(cut_after_chunks=3)],
        "error",
        (1, 1),
        1.0,
        backup=[{"reject_prefill": True}],
        modes=(True,),
    ),
    Scenario("accounting-after-failover", [ok(status=502)] * 4, "backup", (2, 1), 1.0),
]

CASES = [(s, stream) for s in SCENARIOS for stream in s.modes]


def config(primary_url: str, backup_url: str, **primary: object) -> dict:
    cfg = model_config(primary_url, backup_url, **primary)
    timeouts = {"connect": 0.5, "ttfb": 3.0, "idle": 0.5, "total": 10}
    for m in cfg["models"]:
        m["timeouts"] = timeouts
        m["failover"] = {"hedge_default_s": 0.3, "hedge_min_s": 0.1}
        m["stream_resume"] = True
    cfg["models"][0]["breaker"] = {"failure_threshold": 5, "success_threshold": 1}
    return cfg


async def ask(client: openai.AsyncOpenAI, stream: bool) -> tuple[str, dict]:
    raw = await client.chat.completions.with_raw_response.create(model="primary", messages=MSG, stream=stream)
    if not stream:
        return raw.parse().choices[0].message.content or "", dict(raw.headers)
    parts = []
    async for chunk in raw.parse():
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts), dict(raw.headers)


@pytest.mark.parametrize(("sc", "stream"), CASES, ids=[f"{s.name}-{'stream' if st else 'plain'}" for s, st in CASES])
async def test_scenario(sc: Scenario, stream: bool, fakes, serve):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base, **sc.model), real_sleep=True)
    await primary.script(*sc.primary)
    full = TEXT if sc.answer == "resumed" else BACKUP_TEXT
    await backup.script(*(sc.backup or [{"text": full, "chunks": 3, "usage": B_USAGE}]))
    client = srv.client()
    t0 = time.monotonic()
    if sc.answer == "error":
        got: list[str] = []
        with pytest.raises(openai.APIError) as ei:
            if stream:
                s = await client.chat.completions.create(model="primary", messages=MSG, stream=True)
                async for chunk in s:
                    if chunk.choices and chunk.choices[0].delta.content:
                        got.append(chunk.choices[0].delta.content)
            else:
                await client.chat.completions.create(model="primary", messages=MSG)
        assert ei.value.message
        if sc.status:
            assert getattr(ei.value, "status_code", None) == sc.status
        assert "".join(got) != TEXT  # never a truncated answer passed as whole
    else:
        text, headers = await ask(client, stream)
        assert text == (BACKUP_TEXT if sc.answer == "backup" else TEXT)
        assert headers["x-faregate-model"] == "primary" if sc.answer == "primary" else True
    elapsed = time.monotonic() - t0
    assert sc.min_s <= elapsed <= sc.max_s, f"{sc.name}: {elapsed:.2f} s"
    assert (len(await primary.requests()), len(await backup.requests())) == sc.calls
    ctx = await srv.last_context()
    row = build_record(ctx)
    assert row.attempts == len(ctx.attempts) >= sum(sc.calls)
    if sc.answer == "primary":
        assert (row.input_tokens, row.output_tokens) == (11, 7) and row.cost_usd == pytest.approx(P_COST)
        assert row.model == "primary" and not row.fallback_used
    elif sc.answer in ("backup", "resumed"):
        assert (row.input_tokens, row.output_tokens) == (13, 5) and row.cost_usd == pytest.approx(B_COST)
        assert row.model == "backup" and row.fallback_used
    else:
        assert row.status >= 400
    _check_specifics(sc, row, ctx)
    for dep in srv.gw.registry.all():
        assert dep.in_flight == 0


def _check_specifics(sc: Scenario, row, ctx) -> None:
    statuses = [a.status for a in ctx.attempts]
    if sc.name in ("no-response", "slow-first-token"):
        assert ctx.hedged and ctx.hedge_winner == "hedge" and sorted(statuses) == ["hedge_lost", "ok"]
        assert row.extra["hedged"] is True
    if sc.answer == "resumed":
        assert ctx.resumed and row.extra["resumed"] and 0 < row.extra["resume_at_chars"] < len(TEXT)
        assert statuses[0] in ("transient", "timeout") and statuses[-1] == "ok"
    if sc.name == "malformed-chunk":
        assert row.extra["malformed_events_skipped"] == 1
    if sc.name == "fallback-rejects-prefill":
        assert statuses == ["transient", "client"] and ctx.failed_after_first_byte


async def test_resume_sends_the_partial_answer_as_an_assistant_prefill(fakes, serve):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await primary.script(ok(cut_after_chunks=3))
    await backup.script({"text": TEXT, "chunks": 3, "usage": B_USAGE})
    text, _ = await ask(srv.client(), True)
    assert text == TEXT
    body = (await backup.requests())[0]["body"]
    last = body["messages"][-1]
    assert last["role"] == "assistant" and TEXT.startswith(
        last["content"][0]["text"] if isinstance(last["content"], list) else last["content"]
    )


async def test_resume_is_off_unless_asked(fakes, serve):
    primary, backup = fakes
    cfg = config(f"{primary.base}/v1", backup.base)
    for m in cfg["models"]:
        m["stream_resume"] = False
    srv = await serve(cfg, real_sleep=True)
    await primary.script(ok(cut_after_chunks=3))
    with pytest.raises(openai.APIError):
        await ask(srv.client(), True)
    assert await backup.requests() == []


async def test_no_hedge_for_a_request_marked_not_idempotent(fakes, serve):
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await primary.script(ok(ttft_ms=800))
    t0 = time.monotonic()
    r = await srv.client().chat.completions.create(
        model="primary", messages=MSG, extra_body={"faregate": {"idempotent": False}}
    )
    assert r.choices[0].message.content == TEXT and time.monotonic() - t0 >= 0.8
    assert await backup.requests() == []
    assert not (await srv.last_context()).hedged


async def test_a_resume_after_a_space_does_not_double_it(fakes, serve):
    """Anthropic refuses a prefill ending in whitespace: it goes without it, and the space the
    client already has is not sent twice."""
    primary, backup = fakes
    srv = await serve(config(f"{primary.base}/v1", backup.base), real_sleep=True)
    await primary.script(ok(chunks=5, cut_after_chunks=3))  # the partial answer is "The primary answers "
    await backup.script({"text": TEXT, "chunks": 3, "usage": B_USAGE})
    text, _ = await ask(srv.client(), True)
    assert text == TEXT
    sent = (await backup.requests())[0]["body"]["messages"][-1]
    assert sent["role"] == "assistant" and not str(sent["content"]).endswith(" ")
