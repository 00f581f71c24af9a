"""Nothing lost on SIGTERM: a real ``faregate serve`` under load, SIGTERM mid-run; afterwards the
request log holds exactly one 200 row per 2xx response the clients received (and no other)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import aiohttp
import pytest

from faregate.storage.db import Database
from helpers import GATEWAY_KEY, ServeProcess, clean_env, fake_config


async def _load(url: str, stop_at: float, counts: dict, ids: set, concurrency: int = 32) -> None:
    body = {"model": "fake-openai", "messages": [{"role": "user", "content": "hi"}]}

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < stop_at:
            try:
                async with session.post(
                    url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {GATEWAY_KEY}"}
                ) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        ids.add(r.headers["x-request-id"])
                    else:
                        counts["non2xx"] += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                counts["conn_errors"] += 1
                await asyncio.sleep(0.01)

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(worker(s) for _ in range(concurrency)))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigterm_mid_load_loses_nothing(upstreams, tmp_path, backend):
    if backend == "postgres":
        from .conftest import _pg_up, drop_pg, make_pg_url

        if not _pg_up():
            if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
                pytest.fail("PostgreSQL required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
            pytest.skip("PostgreSQL unreachable")
        db_url, pg_name = asyncio.run(make_pg_url())
    else:
        db_url, pg_name = f"sqlite:///{tmp_path / 'log.db'}", None
    upstreams["openai"].provider  # noqa: B018
    from helpers import http_json

    http_json("POST", f"{upstreams['openai'].root}/_fake/default", {"delay_ms": 15})
    cfg = fake_config({"openai": upstreams["openai"]}, database_url=db_url)
    cfg_path = tmp_path / "faregate.yaml"
    cfg_path.write_text(json.dumps(cfg))  # JSON is YAML
    proc = ServeProcess(["serve", "--config", str(cfg_path)], env=clean_env(), cwd=tmp_path).start()
    counts = {"non2xx": 0, "conn_errors": 0}
    ids: set[str] = set()

    async def run() -> None:
        load = asyncio.ensure_future(_load(proc.url, time.monotonic() + 4.0, counts, ids))
        await asyncio.sleep(1.5)  # mid-run
        proc.proc.send_signal(signal.SIGTERM)
        await load

    try:
        asyncio.run(run())
        assert proc.proc.wait(30) == 0
    finally:
        proc.stop()

    async def rows() -> list[dict]:
        db = await Database.open(db_url)
        try:
            return await db.fetch("SELECT id, status FROM request_log")
        finally:
            await db.close()

    try:
        got = asyncio.run(rows())
    finally:
        if pg_name:
            asyncio.run(drop_pg(pg_name))
    ok = {r["id"] for r in got if r["status"] == 200}
    print(
        f"\n{backend}: 2xx received {len(ids)}, rows {len(got)} (status 200: {len(ok)}), "
        f"non-2xx {counts['non2xx']}, connection errors after SIGTERM {counts['conn_errors']}"
    )
    assert len(ids) > 100, "the load did not run"
    assert ids <= ok, f"{len(ids - ok)} answered request(s) missing from the log"
    assert len(ok) == len(ids), f"{len(ok - ids)} logged 200(s) the clients never received"
    assert not list(tmp_path.glob("*spill*")), "nothing should have been spilled"
