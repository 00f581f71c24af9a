"""Failover under random upstream faults: zero client-visible errors, and the throughput cost.

    python bench/bench_failover.py [-n 10000] [--concurrency 32] [--fault-rate 0.05]

Starts two fake providers (OpenAI wire as the primary, Anthropic wire as its fallback) and
`faregate serve` as separate processes, then sends the same request mix (a quarter of them
streamed) with and without faults. With faults, the primary fake is scripted so that each
upstream call fails with probability ``--fault-rate``, drawn from 500, 502, 503, 529, a
malformed JSON body, and (streamed) a stream cut before its first chunk.

The two modes run in alternating blocks (ABBA), so drift on a shared machine hits both alike;
the ratio is the median over adjacent block pairs; and the gateway is pinned to a core of its
own (the fakes and the load generator share the rest), as one gateway worker runs in production.
Prints both throughputs, their ratio (target: at least 0.90), and the client-visible errors
(target: 0). Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

KEY = "fg-bench-key"
# Each fault fails a streamed and a non-streamed call alike (the fake applies what fits the call).
FAULTS = [
    {"status": 500},
    {"status": 502},
    {"status": 503},
    {"status": 529},
    {"malformed_json": True, "cut_after_chunks": 0},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
keys: [{{key: {key}}}]
learning: {{enabled: false}}
models:
  - name: primary
    provider: openai
    model: gpt-4o-mini
    base_url: http://127.0.0.1:{p1}/v1
    api_key: fake
    prices: {{input: 0.15, output: 0.60}}
    max_attempts: 2
    timeouts: {{connect: 2, ttfb: 5, idle: 5, total: 30}}
    fallbacks: [backup]
  - name: backup
    provider: {fallback}
    model: {fallback_model}
    base_url: http://127.0.0.1:{p2}{fallback_path}
    api_key: fake
    prices: {{input: 3, output: 15}}
"""


@dataclass
class Tally:
    requests: int = 0
    errors: int = 0
    failovers: int = 0
    retried: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def wait_http(url: str, timeout: float = 20.0) -> None:
    t_end = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > t_end:
                raise SystemExit(f"{url} did not come up")
            await asyncio.sleep(0.1)


async def one(session: aiohttp.ClientSession, url: str, stream: bool, tally: Tally) -> None:
    body = {"model": "primary", "messages": [{"role": "user", "content": "Say hello."}], "stream": stream}
    try:
        async with session.post(
            url, data=orjson.dumps(body), headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"}
        ) as r:
            data = await r.read()
            ok = r.status == 200
            if ok and stream:
                ok = b"data: [DONE]" in data and b'"error"' not in data
            elif ok:
                ok = b'"choices"' in data
            if "x-faregate-fallback" in r.headers:
                tally.failovers += 1
            if int(r.headers.get("x-faregate-attempts", "1")) > 1:
                tally.retried += 1
    except aiohttp.ClientError as exc:
        ok, data = False, repr(exc).encode()
    tally.requests += 1
    if not ok:
        tally.errors += 1
        if len(tally.examples) < 5:
            tally.examples.append(data[:300].decode("utf-8", "replace"))


async def block(url: str, n: int, concurrency: int, stream_share: float, seed: int, tally: Tally) -> None:
    rng = random.Random(seed)
    plan = [rng.random() < stream_share for _ in range(n)]
    it = iter(plan)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            for stream in it:
                await one(session, url, stream, tally)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        tally.seconds += time.perf_counter() - t0


async def script_faults(fake: str, n_calls: int, rate: float, seed: int) -> None:
    """One behaviour per upstream call: a fault with probability ``rate``, else the default answer."""
    rng = random.Random(seed)
    script = []
    for _ in range(n_calls):
        if rng.random() < rate:
            script.append(dict(rng.choice(FAULTS)))
        else:
            script.append({})
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{fake}/_fake/reset") as r:
            r.raise_for_status()
        async with s.post(
            f"{fake}/_fake/script", data=orjson.dumps(script), headers={"content-type": "application/json"}
        ) as r:
            r.raise_for_status()


async def reset(fake: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{fake}/_fake/reset") as r:
            r.raise_for_status()


async def run(a: argparse.Namespace) -> int:
    if a.only_status:
        FAULTS[:] = [{"status": 500}]
    if a.only_cut:
        FAULTS[:] = [FAULTS[-1]]
    p1, p2, pg = free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="faregate-bench-")
    cfg = Path(tmp) / "failover.yaml"
    fb = {
        "fallback": a.fallback,
        "fallback_model": "claude-sonnet-4-5" if a.fallback == "anthropic" else "gpt-4o",
        "fallback_path": "/v1" if a.fallback == "openai" else "",
    }
    cfg.write_text(CONFIG.format(port=pg, key=KEY, p1=p1, p2=p2, **fb))
    env = {**os.environ, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
    exe = [sys.executable, "-m", "faregate"]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = len(cpus) >= 2 and not a.no_pin
    if pin:
        # The gateway gets a core to itself; the fakes and this load generator share the others,
        # so the fallback fake waking up under faults does not take the gateway's CPU.
        os.sched_setaffinity(0, cpus[1:])
    procs = [
        subprocess.Popen(exe + ["fake-provider", "--protocol", "openai", "--port", str(p1)], env=env),
        subprocess.Popen(exe + ["fake-provider", "--protocol", a.fallback, "--port", str(p2)], env=env),
        subprocess.Popen(exe + ["serve", "--config", str(cfg), "--port", str(pg)], env=env),
    ]
    if pin:
        os.sched_setaffinity(procs[2].pid, cpus[:1])
    fake1 = f"http://127.0.0.1:{p1}"
    url = f"http://127.0.0.1:{pg}/v1/chat/completions"
    try:
        await wait_http(f"{fake1}/_fake/requests")
        await wait_http(f"http://127.0.0.1:{p2}/_fake/requests")
        await wait_http(f"http://127.0.0.1:{pg}/health")
        warm = Tally()
        await block(url, min(1000, a.n // 5), a.concurrency, a.stream_share, 0, warm)
        clean, faulty = Tally(), Tally()
        pair_ratios: list[float] = []
        blocks = max(2, a.blocks)
        for b in range(blocks):
            per = a.n // blocks + (1 if b < a.n % blocks else 0)
            order = ("clean", "faulty") if b % 2 == 0 else ("faulty", "clean")
            took = {}
            for mode in order:
                if mode == "faulty":
                    await script_faults(fake1, int(per * 1.5) + 100, a.fault_rate, seed=1000 + b)
                    t0 = faulty.seconds
                    await block(url, per, a.concurrency, a.stream_share, seed=b, tally=faulty)
                    took[mode] = faulty.seconds - t0
                    await reset(fake1)
                else:
                    t0 = clean.seconds
                    await block(url, per, a.concurrency, a.stream_share, seed=b, tally=clean)
                    took[mode] = clean.seconds - t0
            pair_ratios.append(took["clean"] / took["faulty"])  # same requests: the throughput ratio
            print(
                f"  block {b + 1}/{blocks}: clean {clean.rate():7.0f} req/s, 5% faults {faulty.rate():7.0f} req/s",
                file=sys.stderr,
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    overall = faulty.rate() / clean.rate() if clean.rate() else 0.0
    # The median over adjacent block pairs: a burst of load from a neighbour hits one pair, not the figure.
    ratio = statistics.median(pair_ratios)
    print(
        f"\nfailover benchmark: {clean.requests} + {faulty.requests} requests, concurrency {a.concurrency}, "
        f"{a.stream_share:.0%} streamed, upstream fault rate {a.fault_rate:.0%} (primary: OpenAI-wire fake; "
        f"fallback: {a.fallback}-wire fake)"
    )
    print(f"{'run':<18}{'requests':>10}{'errors':>8}{'retried':>9}{'failovers':>11}{'seconds':>9}{'req/s':>9}")
    for name, t in (("no faults", clean), (f"{a.fault_rate:.0%} faults", faulty)):
        print(
            f"{name:<18}{t.requests:>10}{t.errors:>8}{t.retried:>9}{t.failovers:>11}{t.seconds:>9.2f}{t.rate():>9.0f}"
        )
    print(
        f"throughput with faults / without: {ratio:.3f} (median of {len(pair_ratios)} adjacent block pairs; "
        f"{overall:.3f} from the totals; target >= 0.90)"
    )
    print(f"client-visible errors with faults: {faulty.errors} (target 0)")
    for ex in faulty.examples + clean.examples:
        print("  error example:", ex)
    return 0 if faulty.errors == 0 and clean.errors == 0 and ratio >= 0.9 else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10_000, help="requests per mode (default 10000)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--stream-share", type=float, default=0.25)
    ap.add_argument("--only-status", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only-cut", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--fallback",
        choices=["anthropic", "openai"],
        default="anthropic",
        help="wire format of the fallback fake (default anthropic: a cross-provider failover)",
    )
    ap.add_argument("--no-pin", action="store_true", help="do not give the gateway a CPU core of its own")
    ap.add_argument("--blocks", type=int, default=6, help="alternating blocks per mode (default 6)")
    raise SystemExit(asyncio.run(run(ap.parse_args())))


if __name__ == "__main__":
    main()
