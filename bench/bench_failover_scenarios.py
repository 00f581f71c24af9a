"""Time to answer per fault scenario, streaming and not: the failover defaults against the
earlier behaviour (the reference), side by side.

    python bench/bench_failover_scenarios.py [--rounds 3]

Per scenario, a fresh gateway in front of two fake providers (OpenAI wire primary, Anthropic
wire fallback) answers one request through the official openai SDK. The reference is the same
gateway with the failover knobs set to what faregate did before: no short waits, no quick
retry, no hedging, strict stream parsing, no resume, breaker cooldown 30 s doubling to 300 s.
The operator baseline of the scenarios (two attempts, one fallback) with first-byte and idle
timeouts of 10 s (30 s in production; scaled down so a round takes seconds, not minutes).
Rounds interleave the two configurations (ABBA) so drift on a shared machine hits both alike.
Prints the median time to the whole answer, and how it ended: ``ok:<model>`` (the whole answer,
and which model's headers the client got), or ``error`` (a clean error, or an in-band error
after a partial stream). Two rows measure something else: "accounting after failover" shows
the request-log row's answering model, tokens (input+output) and cost after the primary failed
and the fallback answered; "flapping primary" shows the time from the primary's recovery (it
answers 503 for ``FLAP_OUTAGE_S``, requests every 50 ms throughout) to the first answer it gives
again.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from typing import Any

import openai
from aiohttp import web

from faregate.config import GatewayConfig
from faregate.pipeline.gateway import Gateway
from faregate.pipeline.request_log_step import build_record
from faregate.server.app import create_app
from faregate.testing import FakeProvider

KEY = "fg-bench-key"
TEXT = "The primary answers this in several clear parts."
T = {"connect": 1.0, "ttfb": 10.0, "idle": 10.0, "total": 60}
LEGACY = {
    "failover": {
        "retry_after_wait_max_s": 0,
        "quick_retry": False,
        "hedge": False,
        "malformed_events_skipped": 0,
    },
    "stream_resume": False,
    "breaker": {"cooldown_s": 30, "max_cooldown_s": 300},
}
NEW = {"stream_resume": True}

FLAP_OUTAGE_S = 35.0  # longer than the reference's 30 s cooldown: its trial hits the outage
B_USAGE = {"input_tokens": 13, "output_tokens": 5}

# name, primary behaviours, modes (False: plain, True: stream), options: "backup" (the fallback's
# behaviours), "model" (extra primary model config), "outcome": "accounting" (the log row's
# model, usage and cost) or "flap" (time from recovery to traffic back, FLAP_OUTAGE_S of 503s)
SCENARIOS: list[tuple[str, list[dict], tuple[bool, ...], dict]] = [
    ("429 Retry-After 2 s", [{"status": 429, "retry_after_s": 2}], (False, True), {}),
    ("persistent 429", [{"status": 429}] * 4, (False, True), {}),
    ("one 500", [{"status": 500}], (False, True), {}),
    ("persistent 503", [{"status": 503}] * 4, (False, True), {}),
    ("TCP reset", [{"cut_after_chunks": 0}], (False, True), {}),
    ("no response", [{"delay_ms": 20_000}], (False, True), {}),
    ("first token after 8 s", [{"ttft_ms": 8000}], (False, True), {}),
    ("stream cut mid-answer", [{"cut_after_chunks": 3}], (True,), {}),
    ("stream stall mid-answer", [{"stall_after_chunks": 3}], (True,), {}),
    ("one malformed chunk", [{"malformed_sse": True}], (True,), {}),
    ("missing [DONE]", [{"omit_done": True}], (True,), {}),
    (
        "context-length error",
        [{"status": 400, "error_message": "This model's maximum context length is 8192 tokens"}],
        (False, True),
        {"model": {"context_fallback": "backup"}},
    ),
    (
        "content-filter refusal",
        [{"status": 400, "error_message": "Your request was rejected by the content_filter policy"}],
        (False, True),
        {},
    ),
    # A cut stream whose fallback refuses the prefill: the in-band error, never a truncated success.
    ("fallback rejects prefill", [{"cut_after_chunks": 3}], (True,), {"backup": [{"reject_prefill": True}]}),
    ("accounting after failover", [{"status": 502}] * 4, (False, True), {"outcome": "accounting"}),
    ("flapping primary", [], (False,), {"outcome": "flap"}),
]


def config(primary: str, backup: str, knobs: dict, extra: dict | None = None) -> dict:
    extra = extra or {}

    def model(name: str, provider: str, url: str, **extra: Any) -> dict:
        return {"name": name, "provider": provider, "base_url": url, "api_key": "sk-x", "timeouts": T, **extra}

    return {
        "keys": [{"key": KEY}],
        "learning": {"enabled": False},
        "models": [
            model(
                "primary",
                "openai",
                primary,
                max_attempts=2,
                fallbacks=["backup"],
                prices={"input": 1.0, "output": 2.0},
                **{**knobs, **extra},
            ),
            model(
                "backup",
                "anthropic",
                backup,
                prices={"input": 3.0, "output": 15.0},
                **{k: v for k, v in knobs.items() if k != "breaker"},
            ),
        ],
    }


async def ask(client: openai.AsyncOpenAI, stream: bool) -> tuple[str, str]:
    """(the answer's text, the model header), or ("", "error") on an API error."""
    msgs: list[Any] = [{"role": "user", "content": "hello"}]
    try:
        raw = await client.chat.completions.with_raw_response.create(model="primary", messages=msgs, stream=stream)
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        else:
            text = raw.parse().choices[0].message.content or ""
    except openai.APIError:
        return "", "error"
    return text, raw.headers.get("x-faregate-model", "?")


async def last_finished(contexts: list, timeout: float = 5.0) -> Any:
    """The last request's context once it is finished (a stream finishes after its last byte)."""
    t_end = time.perf_counter() + timeout
    while not (contexts and contexts[-1]._finished) and time.perf_counter() < t_end:
        await asyncio.sleep(0.005)
    return contexts[-1] if contexts else None


async def flap(p: FakeProvider, client: openai.AsyncOpenAI, stream: bool) -> tuple[float, str]:
    """The primary answers 503 for FLAP_OUTAGE_S, then recovers; a request every 50 ms. Returns
    the time from recovery to the first answer the primary gives again."""
    p.default = {"status": 503}
    t0 = time.perf_counter()
    recovered_at = 0.0
    while time.perf_counter() - t0 < FLAP_OUTAGE_S + 150:
        if not recovered_at and time.perf_counter() - t0 >= FLAP_OUTAGE_S:
            p.default = {"text": TEXT, "chunks": 5}
            recovered_at = time.perf_counter()
        text, by = await ask(client, stream)
        if recovered_at and by == "primary" and text == TEXT:
            return time.perf_counter() - recovered_at, "ok:primary"
        await asyncio.sleep(0.05)
    return time.perf_counter() - recovered_at, "never back"


async def run_once(behaviours: list[dict], stream: bool, knobs: dict, opts: dict) -> tuple[float, str]:
    async with FakeProvider("openai") as p, FakeProvider("anthropic") as b:
        p.script([{**x, "text": TEXT, "chunks": 5} for x in behaviours])
        p.default = {"text": TEXT, "chunks": 5}  # a retried call answers whole
        b.script([{"text": TEXT, "chunks": 3, "usage": B_USAGE, **x} for x in opts.get("backup", [{}])])
        gw = Gateway(GatewayConfig.model_validate(config(p.base_url, b.base_url, knobs, opts.get("model"))))
        contexts: list = []
        handle = gw.handle

        async def recording(ctx: Any, *args: Any, **kw: Any) -> Any:
            contexts.append(ctx)
            return await handle(ctx, *args, **kw)

        gw.handle = recording  # type: ignore[method-assign]
        runner = web.AppRunner(create_app(gw), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=90)
        if opts.get("outcome") == "flap":
            elapsed, outcome = await flap(p, client, stream)
        else:
            t0 = time.perf_counter()
            text, by = await ask(client, stream)
            elapsed = time.perf_counter() - t0
            if by == "error":
                outcome = "error"
            elif text != TEXT:
                outcome = "truncated!"
            elif opts.get("outcome") == "accounting":
                ctx = await last_finished(contexts)
                row = build_record(ctx)
                outcome = f"{row.model} {row.input_tokens}+{row.output_tokens} ${row.cost_usd:.6f}"
            else:
                outcome = f"ok:{by}"
        await client.close()
        await runner.cleanup()
        return elapsed, outcome


async def main(rounds: int) -> None:
    rows = []
    for name, behaviours, modes, opts in SCENARIOS:
        for stream in modes:
            times: dict[str, list[float]] = {"new": [], "reference": []}
            outcomes: dict[str, set[str]] = {"new": set(), "reference": set()}
            for r in range(rounds):
                order = [("new", NEW), ("reference", LEGACY)]
                for label, knobs in order if r % 2 == 0 else order[::-1]:
                    t, outcome = await run_once(behaviours, stream, knobs, opts)
                    times[label].append(t)
                    outcomes[label].add(outcome)
            rows.append((name, "stream" if stream else "plain", times, outcomes))
    print(f"{'scenario':26} {'mode':6} {'defaults (s)':>13} {'outcome':>22} {'reference (s)':>14} {'outcome':>22}")
    for name, mode, times, outcomes in rows:
        new, ref = statistics.median(times["new"]), statistics.median(times["reference"])
        print(
            f"{name:26} {mode:6} {new:13.2f} {'/'.join(sorted(outcomes['new'])):>22} "
            f"{ref:14.2f} {'/'.join(sorted(outcomes['reference'])):>22}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the fakes' scripted cuts
    asyncio.run(main(ap.parse_args().rounds))
