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
after a partial stream).
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

# name, primary behaviours, modes (False: plain, True: stream)
SCENARIOS: list[tuple[str, list[dict], tuple[bool, ...]]] = [
    ("429 Retry-After 2 s", [{"status": 429, "retry_after_s": 2}], (False, True)),
    ("one 500", [{"status": 500}], (False, True)),
    ("TCP reset", [{"cut_after_chunks": 0}], (False, True)),
    ("no response", [{"delay_ms": 20_000}], (False, True)),
    ("first token after 8 s", [{"ttft_ms": 8000}], (False, True)),
    ("stream cut mid-answer", [{"cut_after_chunks": 3}], (True,)),
    ("stream stall mid-answer", [{"stall_after_chunks": 3}], (True,)),
    ("one malformed chunk", [{"malformed_sse": True}], (True,)),
]


def config(primary: str, backup: str, knobs: dict) -> dict:
    def model(name: str, provider: str, url: str, **extra: Any) -> dict:
        return {"name": name, "provider": provider, "base_url": url, "api_key": "sk-x", "timeouts": T, **extra}

    return {
        "keys": [{"key": KEY}],
        "learning": {"enabled": False},
        "models": [
            model("primary", "openai", primary, max_attempts=2, fallbacks=["backup"], **knobs),
            model("backup", "anthropic", backup, **{k: v for k, v in knobs.items() if k != "breaker"}),
        ],
    }


async def run_once(behaviours: list[dict], stream: bool, knobs: dict) -> tuple[float, str]:
    async with FakeProvider("openai") as p, FakeProvider("anthropic") as b:
        p.script([{**x, "text": TEXT, "chunks": 5} for x in behaviours])
        p.default = {"text": TEXT, "chunks": 5}  # a retried call answers whole
        b.script({"text": TEXT, "chunks": 3})
        gw = Gateway(GatewayConfig.model_validate(config(p.base_url, b.base_url, knobs)))
        runner = web.AppRunner(create_app(gw), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=90)
        msgs: list[Any] = [{"role": "user", "content": "hello"}]
        t0 = time.perf_counter()
        try:
            raw = await client.chat.completions.with_raw_response.create(model="primary", messages=msgs, stream=stream)
            if stream:
                text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
            else:
                text = raw.parse().choices[0].message.content or ""
            by = raw.headers.get("x-faregate-model", "?")
            outcome = f"ok:{by}" if text == TEXT else "truncated!"
        except openai.APIError:
            outcome = "error"
        elapsed = time.perf_counter() - t0
        await client.close()
        await runner.cleanup()
        return elapsed, outcome


async def main(rounds: int) -> None:
    rows = []
    for name, behaviours, modes in SCENARIOS:
        for stream in modes:
            times: dict[str, list[float]] = {"new": [], "reference": []}
            outcomes: dict[str, set[str]] = {"new": set(), "reference": set()}
            for r in range(rounds):
                order = [("new", NEW), ("reference", LEGACY)]
                for label, knobs in order if r % 2 == 0 else order[::-1]:
                    t, outcome = await run_once(behaviours, stream, knobs)
                    times[label].append(t)
                    outcomes[label].add(outcome)
            rows.append((name, "stream" if stream else "plain", times, outcomes))
    print(f"{'scenario':26} {'mode':6} {'defaults (s)':>13} {'outcome':>12} {'reference (s)':>14} {'outcome':>12}")
    for name, mode, times, outcomes in rows:
        new, ref = statistics.median(times["new"]), statistics.median(times["reference"])
        print(
            f"{name:26} {mode:6} {new:13.2f} {'/'.join(sorted(outcomes['new'])):>12} "
            f"{ref:14.2f} {'/'.join(sorted(outcomes['reference'])):>12}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # the fakes' scripted cuts
    asyncio.run(main(ap.parse_args().rounds))
