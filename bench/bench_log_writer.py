"""What the request log costs the gateway's one core, per record, side by side with its reference.

    python bench/bench_log_writer.py [--records 20000] [--rounds 3]

Pinned to one core, like ``faregate serve`` in ``bench_proxy.py``. A stand-in for the request
path (a coroutine doing a fixed piece of Python work per "request", yielding to the loop each
time) runs for the whole measurement, while the log writes records into SQLite:

- ``none``: no writes (the reference: how much request-path work the core does alone);
- ``thread``: the rows go in through ``executemany`` in a worker thread (the design before:
  sqlite3 releases and re-takes the GIL around every row);
- ``loop``: ``Database.batch`` as faregate does it now (on the loop, 32-row slices).

Printed per mode: request-path iterations per second, the share of them kept while writing, the
core time the writes took per record, the longest pause of the loop, and the time to build a
batch's rows and rollups (``_prepare``) per record.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from faregate.storage import request_log
from faregate.storage.db import Database, _qmarks
from faregate.storage.request_log import RequestRecord


def records(n: int) -> list[RequestRecord]:
    now = time.time()
    return [
        RequestRecord(
            id=f"req_{int(now * 1000):012x}{i:012x}",
            ts=now,
            key_id="cfg_0123456789ab",
            requested_model="bench",
            model="bench",
            deployment="bench#0",
            plan_models=["bench"],
            models_called=["bench"],
            input_tokens=21,
            output_tokens=7,
            cost_usd=7.35e-6,
            latency_ms=0.6 + (i % 11) * 0.05,
            status=200,
            attempts=1,
        )
        for i in range(n)
    ]


async def request_path(stop: asyncio.Event, counts: list[int], gaps: list[float]) -> None:
    """A fixed piece of Python work per iteration, then back to the loop (like a request's steps)."""
    last = time.perf_counter()
    while not stop.is_set():
        d = {f"k{i}": i for i in range(40)}
        sum(d.values())
        counts[0] += 1
        await asyncio.sleep(0)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def run(mode: str, n: int, batch: int, folder: str) -> dict:
    recs = records(n)
    url = f"sqlite:///{folder}/{mode}-{time.monotonic_ns()}.db"
    db = await Database.open(url)
    await db.migrate("request_log")
    stmts = [await request_log._prepare(recs[i : i + batch]) for i in range(0, n, batch)]
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        await request_log._prepare(recs[i : i + batch])
    prep_us = (time.perf_counter() - t0) / n * 1e6
    if mode == "thread":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")

        def write(st: list) -> None:
            conn.execute("BEGIN IMMEDIATE")
            for s in st:
                sql, rows = (_qmarks(s.insert_sql()), s.rows) if hasattr(s, "insert_sql") else (_qmarks(s[0]), s[1])
                conn.executemany(sql, rows)
            conn.execute("COMMIT")

    stop, counts, gaps = asyncio.Event(), [0], []
    path = asyncio.get_running_loop().create_task(request_path(stop, counts, gaps))
    cpu0, t0 = time.process_time(), time.perf_counter()
    if mode == "none":
        await asyncio.sleep(1.0)
    else:
        for st in stmts:
            if mode == "thread":
                await asyncio.to_thread(write, st)
            else:
                await db.batch(st)
            await asyncio.sleep(0.01)  # batches arrive spaced out, as the writer's flush interval does
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    stop.set()
    await path
    await db.close()
    written = 0 if mode == "none" else n
    return {
        "its": counts[0] / elapsed,
        "written": written,
        "cpu": cpu,
        "max_gap_ms": max(gaps) * 1000 if gaps else float("nan"),
        "prep_us": prep_us,
        "elapsed": elapsed,
    }


async def main_async(a: argparse.Namespace) -> None:
    folder = tempfile.mkdtemp(prefix="faregate-bench-log-")
    res: dict[str, list[dict]] = {m: [] for m in ("none", "thread", "loop")}
    for r in range(a.rounds):
        for m in ("none", "thread", "loop") if r % 2 == 0 else ("loop", "thread", "none"):
            res[m].append(await run(m, a.records, a.batch, folder))
    base = statistics.median(x["its"] for x in res["none"])
    print(f"\n{a.rounds} round(s) of {a.records:,} records in batches of {a.batch}; one core")
    print(f"{'mode':<8}{'path it/s':>12}{'path kept':>11}{'core us/rec':>13}{'max pause ms':>14}{'prep us/rec':>13}")
    for m, xs in res.items():
        its = statistics.median(x["its"] for x in xs)
        # The core time the log took from the request path, per record written.
        cpu = statistics.median(
            (1 - x["its"] / base) * x["cpu"] / x["written"] * 1e6 if x["written"] else float("nan") for x in xs
        )
        gap = statistics.median(x["max_gap_ms"] for x in xs)
        prep = statistics.median(x["prep_us"] for x in xs)
        print(f"{m:<8}{its:>12,.0f}{its / base:>10.0%}{cpu:>13.1f}{gap:>14.2f}{prep:>13.1f}")
    print(
        "\n'path kept': request-path work done while the log writes, against no writes ('none'). 'core us/rec':"
        " the core time the writes took from it, per record (process CPU x the share of path work lost)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="request-log write cost on one core")
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
