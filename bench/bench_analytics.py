"""Insert N request records (default 1,000,000) through the LogWriter's batched path, then time
``analytics.summary`` over all of them, grouped by model, key, route, task and day.

    python bench/bench_analytics.py [--n 1000000] [--url sqlite:///bench-analytics.db | postgresql://...]

Records span 30 days, 6 models, 50 keys, 5 routes, 5 tasks, two rollout arms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time

from faregate.core.usage import Prices, Usage
from faregate.storage import analytics
from faregate.storage.db import Database
from faregate.storage.request_log import LogWriter, RequestRecord

MODELS = {
    "gpt-4o": Prices(2.5, 10),
    "gpt-4o-mini": Prices(0.15, 0.6),
    "claude-sonnet": Prices(3, 15),
    "claude-haiku": Prices(0.8, 4),
    "gemini-flash": Prices(0.1, 0.4),
    "llama-70b": Prices(0.6, 0.8),
}


async def fill(url: str, n: int, chunk: int = 20_000) -> tuple[float, float, float]:
    """Write ``n`` records spanning the last 30 days through the LogWriter's batched path;
    returns (first ts, last ts, seconds taken). ``bench_dashboard.py`` builds its database here too."""
    rng = random.Random(1)
    now = time.time()
    start = now - 30 * 86400
    names = list(MODELS)
    w = LogWriter(url, batch_size=5000, max_queue=n + 1)
    t0 = time.perf_counter()
    for c in range(0, n, chunk):
        for i in range(c, min(n, c + chunk)):
            m = rng.choice(names)
            inp, out = rng.randint(50, 3000), rng.randint(10, 800)
            lat = rng.lognormvariate(6.5, 0.6)
            ceiling = rng.choice([None, 1000.0, 3000.0])
            w.append(
                RequestRecord(
                    id=f"req-{i}",
                    ts=start + (i / n) * 30 * 86400,
                    key_id=f"key-{rng.randrange(50)}",
                    route=f"route-{rng.randrange(5)}",
                    requested_model="auto",
                    model=m,
                    models_called=[m],
                    input_tokens=inp,
                    output_tokens=out,
                    cost_usd=MODELS[m].cost(Usage(inp, out)),
                    ttft_ms=lat * 0.3,
                    latency_ms=lat,
                    status=200 if rng.random() > 0.01 else 502,
                    fallback_used=rng.random() < 0.02,
                    cache_hit=rng.random() < 0.05,
                    constraint_unmet=rng.random() < 0.03,
                    latency_ceiling_ms=ceiling,
                    latency_met=None if ceiling is None else lat <= ceiling,
                    arm="routed" if rng.random() < 0.9 else "control",
                    task=rng.choice(["chat", "classify", "summarize", "extract_json", "generate"]),
                )
            )
        await w.flush()
    took = time.perf_counter() - t0
    await w.close()
    return start, now, took


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--url", default=None)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--skip-insert", action="store_true", help="time the summary over an existing --url only")
    a = ap.parse_args()
    tmp = None
    if a.url is None:
        tmp = tempfile.mkdtemp()
        a.url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    start = now = ins = 0.0
    if not a.skip_insert:
        start, now, ins = await fill(a.url, a.n, a.chunk)
    if a.skip_insert:
        db = await Database.open(a.url)
        start = float(await db.fetchval("SELECT MIN(ts) FROM request_log"))
        now = float(await db.fetchval("SELECT MAX(ts) FROM request_log"))
        await db.close()
    else:
        print(f"inserted {a.n:,} records in {ins:.1f} s ({a.n / ins:,.0f}/s) on {a.url.split(':')[0]}")
    db = await Database.open(a.url)
    try:
        for gb in ("model", "key", "route", "task", "day"):
            times = []
            for _ in range(5):
                t = time.perf_counter()
                # An unaligned window: both edge hours come from the raw rows.
                s = await analytics.summary(
                    db, since=start - 1234.5, until=now + 10, group_by=gb, baseline="gpt-4o", prices=MODELS
                )
                times.append((time.perf_counter() - t) * 1000)
            assert s["total"]["requests"] == a.n, s["total"]["requests"]
            print(
                f"summary group_by={gb:<6} over {s['total']['requests']:,} requests: "
                f"median {sorted(times)[2]:.1f} ms (min {min(times):.1f}, max {max(times):.1f})"
            )
        print("recommendation:", (s["recommendations"] or [{"message": "none"}])[0]["message"])
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
