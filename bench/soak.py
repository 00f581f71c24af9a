"""Memory over a long run: ``faregate serve`` under mixed traffic, its RSS about every 50,000 requests.

    python bench/soak.py [--requests 1000000] [--max-seconds 900] [--every 50000]
    python bench/soak.py --env MALLOC_ARENA_MAX=2     # an environment variable for the gateway
    python bench/soak.py --probe DIR                  # tracemalloc snapshots (``mem_probe.py``)

One gateway (``examples/fake-providers.yaml`` with the response cache on: memory, then the
database; the request log on SQLite), pinned to the first core; the fake upstream of
``harness.py`` and ``wrk -t1 -c50`` on the others. The traffic cycles through: new prompts (cache
misses), one repeated prompt (cache hits), streamed answers (50 chunks), upstream failures (the
fake's 500, from a model of their own), invalid bodies (400) and unknown models (404). It stops at ``--requests`` or when
``--max-seconds`` have passed, whichever comes first.

PASS: RSS under 150 MiB at the end and growing less than 5% over the second half of the run
(the last sample against the one at the half-way mark). The result is also written as JSON to
``$TMPDIR/faregate-soak-last.json``, which ``bench_proxy.py`` reports as its memory target.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_proxy import KEY, SOAK_RESULT, default_config  # noqa: E402
from harness import free_port, have_wrk, load_average, pin, rss_mib, wait_port, wrk  # noqa: E402

USER = "Say hello in five words."
MIX = [
    {"model": "fake-openai", "messages": [{"role": "user", "content": f"{USER} @N@"}]},  # a miss
    {"model": "fake-openai", "messages": [{"role": "user", "content": USER}]},  # a hit (after the first)
    {"model": "fake-openai", "stream": True, "messages": [{"role": "user", "content": f"{USER} @N@"}]},
    {"model": "bench-failing", "messages": [{"role": "user", "content": "fail-upstream @N@"}]},  # upstream 500
    {"model": "fake-openai", "messages": [{"role": "user", "content": f"{USER} @N@"}]},
    {"model": "fake-openai", "messages": []},  # 400: an empty message list
    {"model": "no-such-model", "messages": [{"role": "user", "content": "@N@"}]},  # 404
    {"model": "fake-openai", "messages": [{"role": "user", "content": USER}]},
]


def rss_split(pid: int) -> str:
    """Anonymous (the heap) and file-backed (mapped libraries) resident memory, from ``/proc``."""
    f = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            f[line.split(":")[0]] = int(line.split()[1]) / 1024
    return f"anon {f.get('RssAnon', 0):.1f}, file {f.get('RssFile', 0):.1f}"


def snapshot(pid: int, out: Path, n: int, timeout: float = 300.0) -> None:
    """Ask ``mem_probe.py`` for snapshot ``n`` and wait until it is written."""
    os.kill(pid, signal.SIGUSR1)
    end = time.monotonic() + timeout
    while not (out / f"done-{n}").exists() and time.monotonic() < end:
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    ap.add_argument("--every", type=int, default=50_000, help="requests between RSS samples")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="set for the gateway only")
    ap.add_argument(
        "--probe", type=Path, help="run the gateway under mem_probe.py: tracemalloc snapshots at start and end in DIR"
    )
    a = ap.parse_args()
    if not have_wrk():
        raise SystemExit("wrk is needed (apt-get install wrk)")
    cpus = sorted(os.sched_getaffinity(0))
    gw_cpus, other = (cpus[:1], cpus[1:]) if len(cpus) >= 2 and not a.no_pin else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="faregate-soak-"))
    fake, port = free_port(), free_port()
    cfg = default_config(fake, port)
    cfg["cache"] = {"enabled": True, "layers": ["memory://", "database"]}
    # The failures go to a model of their own: its breaker opening leaves fake-openai's traffic alone.
    failing = {"name": "bench-failing", "provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-fake"}
    cfg["models"].append({**failing, "base_url": f"http://127.0.0.1:{fake}/v1", "max_attempts": 1})
    (tmp / "soak.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "FAREGATE_DATABASE_URL": f"sqlite:///{tmp}/soak.db"}
    sink = open(tmp / "access.log", "wb")
    procs = [subprocess.Popen([sys.executable, str(HERE / "harness.py"), "--fake", str(fake)], env=env)]
    argv = ["serve", "--config", str(tmp / "soak.yaml"), "--port", str(port)]
    if a.probe:
        a.probe.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(HERE / "mem_probe.py"), str(a.probe.resolve()), *argv]
    else:
        argv = [sys.executable, "-m", "faregate", *argv]
    gw_env = env | dict(e.split("=", 1) for e in a.env)
    procs.append(subprocess.Popen(argv, env=gw_env, cwd=tmp, stdout=sink, stderr=subprocess.DEVNULL))
    pin(procs[0].pid, other)
    pin(procs[1].pid, gw_cpus)
    samples: list[tuple[int, float]] = []
    done, t0 = 0, time.monotonic()
    try:
        wait_port(fake, procs[0])
        wait_port(port, procs[1])
        wrk(port, KEY, MIX, conns=10, seconds=2, cpus=other)  # warm up
        samples.append((0, rss_mib(procs[1].pid)))
        print(
            f"load average {load_average()}; RSS at start {samples[0][1]:.1f} MiB ({rss_split(procs[1].pid)})",
            flush=True,
        )
        if a.probe:
            snapshot(procs[1].pid, a.probe, 0)
        t_load = time.monotonic()
        while done < a.requests:
            left = a.max_seconds - (time.monotonic() - t0)
            if left <= 1:
                break
            # wrk runs for a time, not a count: size each run from the rate so far (5 s to start).
            rate = done / (time.monotonic() - t_load) if done else 0.0
            want = min(a.every, a.requests - done)
            r = wrk(port, KEY, MIX, conns=50, seconds=min(left, max(1.0, want / rate) if rate else 5.0), cpus=other)
            done += r["requests"]
            samples.append((done, rss_mib(procs[1].pid)))
            print(
                f"{done:>9,} requests  RSS {samples[-1][1]:6.1f} MiB  {r['rps']:6,.0f} req/s  "
                f"non-2xx {r['non2xx']:,}  socket errors {r['socket_errors']}  load {load_average()}  "
                f"({rss_split(procs[1].pid)})",
                flush=True,
            )
            if procs[1].poll() is not None:
                raise SystemExit("the gateway exited during the soak")
        if a.probe:
            snapshot(procs[1].pid, a.probe, 1)
            print(
                f"snapshots in {a.probe}: python bench/mem_probe.py --report {a.probe}/snap-0.pickle "
                f"{a.probe}/snap-1.pickle"
            )
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        sink.close()
    took = time.monotonic() - t0
    end = samples[-1][1]
    mid = min(samples, key=lambda s: abs(s[0] - done / 2))[1]
    growth = (end - mid) / mid if mid else float("nan")
    ok = end < 150 and growth < 0.05 and done > 0
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "requests": done,
        "seconds": round(took),
        "rss_start_mib": samples[0][1],
        "rss_mid_mib": mid,
        "rss_end_mib": end,
        "growth_second_half": growth,
        "samples": samples,
        "load_average_end": load_average(),
        "pass": ok,
    }
    SOAK_RESULT.write_text(json.dumps(result))
    print(
        f"{done:,} requests in {took:.0f} s: RSS {samples[0][1]:.1f} -> {mid:.1f} (half-way) -> {end:.1f} MiB; "
        f"second half {growth:+.1%}; target < 150 MiB and < 5%: {'PASS' if ok else 'FAIL'}"
        + ("" if done >= 1_000_000 else " (a short run: the target is for 1,000,000 requests)")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
