"""Time every dashboard page over a request log of N records (default 1,000,000), side by side
with the analytics API's summary for the same window as the reference, in interleaved rounds.

    python bench/bench_dashboard.py [--n 1000000] [--rounds 15] [--url sqlite:///bench.db [--skip-insert]]

The database is built by ``bench_analytics.fill`` (30 days, 6 models, 50 keys, 5 routes); the
gateway runs in-process with the dashboard on, and a logged-in client fetches each page over
loopback HTTP, so a figure is the whole page: session check, queries, template, transfer.
Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

import aiohttp
from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_analytics import MODELS, fill
from faregate.config import GatewayConfig
from faregate.keys.store import KeyStore
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app

MASTER = "bench-master-key-0123456789abcdef"
TARGET_MS = 300.0
PAGES = {
    "overview (7d)": "/dashboard",
    "overview (30d)": "/dashboard?period=30d",
    "overview (1d)": "/dashboard?period=1d",
    "models (7d)": "/dashboard/models",
    "requests, page 1": "/dashboard/requests?period=30d",
    "requests, filtered": "/dashboard/requests?period=30d&model=gpt-4o&status=5xx",
    "requests, page 2": None,  # the first page's "older" link, filled in at run time
    "request detail": None,  # the middle record's page
    "keys": "/dashboard/keys",
    "alerts": "/dashboard/alerts",
    "recommendations (7d)": "/dashboard/recommendations",
}
REFERENCE = "GET /v1/analytics/summary (7d, reference)"


def _config(url: str) -> GatewayConfig:
    models = [
        {
            "name": m,
            "provider": "openai",
            "model": m,
            "base_url": "http://127.0.0.1:9/v1",
            "api_key": "unused",
            "prices": {"input": p.input, "output": p.output},
        }
        for m, p in MODELS.items()
    ]
    return GatewayConfig.model_validate(
        {"models": models, "database_url": url, "master_key": MASTER, "dashboard": {"enabled": True}}
    )


async def _time(s: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    async with s.get(url, headers=headers) as r:
        text = await r.text()
        assert r.status == 200, (url, r.status, text[:300])
    return (time.perf_counter() - t) * 1000, text


async def _count(url: str) -> int:
    from faregate.storage.db import Database

    db = await Database.open(url)
    try:
        return int(await db.fetchval("SELECT COUNT(*) FROM request_log"))
    finally:
        await db.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--url", default=None)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--skip-insert", action="store_true", help="use an existing --url as it is")
    a = ap.parse_args()
    if a.url is None:
        a.url = f"sqlite:///{os.path.join(tempfile.mkdtemp(), 'bench-dashboard.db')}"
    if not a.skip_insert:
        _, _, took = await fill(a.url, a.n)
        print(f"inserted {a.n:,} records in {took:.1f} s on {a.url.split(':')[0]}")
        async with KeyStore(a.url) as ks:
            for i in range(5):
                await ks.create_key(f"bench-key-{i}", team="bench", limits={"rpm": 600, "budget_usd_day": 50})
    gw = Gateway(_config(a.url))
    runner = web.AppRunner(create_app(gw), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        await _run(base, a.rounds, int(await _count(a.url)))
    finally:
        await runner.cleanup()


async def _run(base: str, rounds: int, n: int) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(base + "/dashboard/login", data={"key": MASTER}) as r:
            assert r.status == 200, r.status
        _, first = await _time(s, base + "/dashboard/requests?period=30d")
        older = first.split('id="older"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        pages = {k: v or "/dashboard/requests" + older for k, v in PAGES.items()}
        pages["request detail"] = f"/dashboard/requests/req-{n // 2}"
        now = time.time()
        ref = f"/v1/analytics/summary?since={now - 7 * 86400:.0f}&until={now:.0f}"
        auth = {"authorization": f"Bearer {MASTER}"}
        times: dict[str, list[float]] = {k: [] for k in [REFERENCE, *pages]}
        for _ in range(2):  # warm-up: the database handle, templates, page cache
            for url in pages.values():
                await _time(s, base + url)
        for _ in range(rounds):  # interleaved: every page once per round, the reference first
            times[REFERENCE].append((await _time(s, base + ref, auth))[0])
            for name, url in pages.items():
                times[name].append((await _time(s, base + url))[0])
    print(f"{'page':<44} {'median':>9} {'p90':>9} {'max':>9}  (ms, {rounds} rounds)")
    for name, ts in times.items():
        ts.sort()
        p90 = ts[min(len(ts) - 1, int(0.9 * len(ts)))]
        flag = "" if name == REFERENCE else ("  ok" if statistics.median(ts) < TARGET_MS else "  OVER 300 ms")
        print(f"{name:<44} {statistics.median(ts):9.1f} {p90:9.1f} {ts[-1]:9.1f}{flag}")


if __name__ == "__main__":
    asyncio.run(main())
