"""Scale-out through a real load balancer: ``faregate cluster up`` (3 replicas, nginx) on the
real Redis and a fresh PostgreSQL database of its own, clients talking only to nginx.

Requires nginx, PostgreSQL and Redis: skips without them, fails when FAREGATE_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import test_routing_http as rt
import yaml
from tests.helpers import LoopThread

from faregate.testing.fake_provider import FakeProvider

PG_ADMIN = os.environ.get("FAREGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FAREGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MASTER = "mk-cluster-" + secrets.token_hex(8)


def _need(what: str, ok: bool) -> None:
    if ok:
        return
    if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is required (FAREGATE_REQUIRE_SERVICES=1) but unavailable")
    pytest.skip(f"{what} unavailable")


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _cli(*args: str, env: dict[str, str], timeout: float = 150) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faregate", "cluster", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _train_router(where: Path) -> Path:
    """The routing tests' RouterBench router (``auto`` picks among ``rt.MODELS``)."""
    if not rt.DATA.exists():
        pytest.skip("shared RouterBench data is not present")
    from faregate.routing.data import Row, load_rows
    from faregate.routing.model import RouterModel

    names = [v[0] for v in rt.MODELS.values()]
    rows = [
        Row(r.id, r.task, r.messages, {m: r.outcomes[m] for m in names})
        for r in load_rows(rt.DATA)[::3]
        if all(m in r.outcomes for m in names)
    ]
    path = where / "router.model"
    RouterModel.fit(rows).save(path)
    return path


class Cluster:
    def __init__(self, url: str, db_url: str, env: dict[str, str], state: Path, keys: dict[str, str], fake) -> None:
        self.url, self.db_url, self.env, self.state, self.keys, self.fake = url, db_url, env, state, keys, fake

    async def log_rows(self, where: str = "", *args) -> list[dict]:
        import asyncpg

        conn = await asyncpg.connect(self.db_url, timeout=5)
        try:
            return [dict(r) for r in await conn.fetch(f"SELECT id, status, key_id FROM request_log {where}", *args)]
        finally:
            await conn.close()

    async def wait_rows(self, ids: set[str], timeout: float = 20) -> list[dict]:
        """The log rows of ``ids`` once all are written (the writer batches), or what is there at the end."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [r for r in await self.log_rows() if r["id"] in ids]
            if len(rows) >= len(ids) or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.3)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from tests.limits_services import redis_reachable

    _need("nginx", bool(shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)))
    _need(f"Redis at {REDIS_URL}", redis_reachable(REDIS_URL))
    state = tmp_path_factory.mktemp("cluster")
    router = _train_router(state)  # before anything is started: it may skip
    loop = LoopThread()
    try:
        loop.run(_pg("SELECT 1"))
    except Exception:  # noqa: BLE001
        loop.stop()
        _need(f"PostgreSQL at {PG_ADMIN}", False)
    name = "fg_cluster_" + uuid.uuid4().hex[:10]
    loop.run(_pg(f"CREATE DATABASE {name}"))
    db_url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    fake = loop.run(FakeProvider("openai", "127.0.0.1", 0).start())
    tag = secrets.token_hex(6)  # keys unique to this run: the Redis is shared
    keys = {"open": f"fg-cl-open-{tag}", "rpm": f"fg-cl-rpm-{tag}", "budget": f"fg-cl-budget-{tag}"}
    routed = [
        {
            "name": n,
            "provider": "openai",
            "model": up,
            "base_url": fake.base_url,
            "api_key": "sk-fake",
            "prices": {"input": p[0], "output": p[1]},
            "router_name": rb,
            "max_attempts": 1,
        }
        for n, (rb, up, p) in rt.MODELS.items()
    ]
    cfg = {
        "router_model": str(router),
        "models": routed
        + [
            {
                "name": "fake",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": fake.base_url,
                "api_key": "sk-fake",
                "prices": {"input": 1.0, "output": 2.0},
                "max_attempts": 1,
            }
        ],
        "keys": [
            {"key": keys["open"], "name": "open"},
            {"key": keys["rpm"], "name": "rpm", "limits": {"rpm": 100}},
            {"key": keys["budget"], "name": "budget", "limits": {"budget_usd_day": 0.01}},
        ],
        "learning": {"enabled": True, "explore_rate": 0.0, "sync_interval_s": 0.5},
        "runtime_config": {"poll_interval_s": 0.5},
        "log_writer": {"flush_interval_s": 0.2},
    }
    path = state / "faregate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {
        **os.environ,
        "FAREGATE_DATABASE_URL": db_url,
        "FAREGATE_REDIS_URL": REDIS_URL,
        "FAREGATE_MASTER_KEY": MASTER,
        "FAREGATE_SECRET_KEY": "cluster-test-" + tag,
        "FAREGATE_LOG_LEVEL": "warning",
    }
    try:
        out = _cli("up", "--replicas", "3", "--config", str(path), "--state-dir", str(state), env=env)
        url = out.strip().splitlines()[-1]
        assert url.startswith("http://127.0.0.1:")
        yield Cluster(url, db_url, env, state, keys, fake)
    finally:
        subprocess.run([sys.executable, "-m", "faregate", "cluster", "down", "--state-dir", str(state)], env=env)
        loop.run(fake.stop())
        loop.run(_pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        loop.stop()


async def _chat(s: aiohttp.ClientSession, url: str, key: str, *, stream: bool = False, model: str = "fake"):
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
    async with s.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}) as r:
        raw = await r.read()
        return r.status, r.headers.get("x-faregate-replica"), r.headers.get("x-request-id"), raw


async def test_balancing_and_one_log_row_per_answer(cluster):
    async with aiohttp.ClientSession() as s:
        got = await asyncio.gather(*(_chat(s, cluster.url, cluster.keys["open"]) for _ in range(30)))
    assert all(st == 200 for st, *_ in got), Counter(st for st, *_ in got)
    assert {rep for _, rep, _, _ in got} == {"replica-1", "replica-2", "replica-3"}
    ids = {rid for *_, rid, _ in got}
    rows = await cluster.wait_rows(ids)
    assert Counter(r["id"] for r in rows) == Counter(ids)  # exactly one row each


async def test_rpm_100_is_exact_across_replicas(cluster):
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as s:
        got = await asyncio.gather(*(_chat(s, cluster.url, cluster.keys["rpm"]) for _ in range(600)))
    statuses = Counter(st for st, *_ in got)
    assert statuses == {200: 100, 429: 500}, statuses
    assert len({rep for st, rep, _, _ in got if st == 200}) == 3  # every replica admitted some
    ok = {rid for st, _, rid, _ in got if st == 200}
    rows = await cluster.wait_rows(ok)
    assert len(rows) == 100 and {r["id"] for r in rows} == ok


async def test_budget_race_overshoots_by_at_most_one_reservation(cluster):
    # Each answer takes 300 ms and uses exactly its reservation (7 prompt + max_tokens 1000
    # output tokens at $1/$2 per million: $0.002007), so all 64 reserve before any finishes.
    cluster.fake.default = {"delay_ms": 300, "usage": {"input_tokens": 7, "output_tokens": 1000}}
    body = {"model": "fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000}

    async def one(s: aiohttp.ClientSession) -> tuple[int, float, str]:
        headers = {"Authorization": f"Bearer {cluster.keys['budget']}"}
        async with s.post(cluster.url + "/v1/chat/completions", json=body, headers=headers) as r:
            data = await r.json()
            cost = data.get("usage", {}).get("cost_usd", 0.0) if r.status == 200 else 0.0
            return r.status, cost, r.headers.get("x-request-id", "")

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            got = await asyncio.gather(*(one(s) for _ in range(64)))
    finally:
        cluster.fake.default = {}
    est = (7 * 1.0 + 1000 * 2.0) / 1e6
    admitted = [c for st, c, _ in got if st == 200]
    assert Counter(st for st, _, _ in got) == {200: len(admitted), 429: 64 - len(admitted)}
    assert 1 <= len(admitted) <= int(0.01 // est) + 1
    assert sum(admitted) <= 0.01 + est, sum(admitted)
    ok = {rid for st, _, rid in got if st == 200}
    assert len(await cluster.wait_rows(ok)) == len(ok)


async def test_runtime_model_added_on_one_replica_is_served_by_all(cluster):
    name = "rt-" + secrets.token_hex(3)
    entry = {
        "name": name,
        "provider": "openai",
        "model": "gpt-4o-mini",
        "base_url": cluster.fake.base_url,
        "api_key": "sk-rt",
        "prices": {"input": 1.0, "output": 2.0},
    }
    async with aiohttp.ClientSession() as s:
        async with s.post(
            cluster.url + "/admin/models", json=entry, headers={"Authorization": f"Bearer {MASTER}"}
        ) as r:
            assert r.status == 201, await r.text()
        await asyncio.sleep(2.0)  # > poll_interval_s + a compile, with margin on a loaded machine
        got = await asyncio.gather(*(_chat(s, cluster.url, cluster.keys["open"], model=name) for _ in range(30)))
    assert all(st == 200 for st, *_ in got), [(st, rep, raw[:200]) for st, rep, _, raw in got if st != 200]
    assert {rep for _, rep, _, _ in got} == {"replica-1", "replica-2", "replica-3"}


async def test_rolling_restart_under_load_loses_nothing(cluster):
    stop = asyncio.Event()
    results: list[tuple[int, str | None, str | None, bytes]] = []

    async def client(stream: bool) -> None:
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                try:
                    results.append(await _chat(s, cluster.url, cluster.keys["open"], stream=stream))
                except aiohttp.ClientError as exc:
                    results.append((-1, None, None, repr(exc).encode()))

    cluster.fake.default = {"ttft_ms": 50}
    workers = [asyncio.create_task(client(stream=i % 2 == 0)) for i in range(6)]
    try:
        await asyncio.sleep(1.0)
        out = await asyncio.to_thread(_cli, "restart", "--state-dir", str(cluster.state), env=cluster.env)
        assert out.count("restarted") == 3
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        cluster.fake.default = {}
    bad = [(st, raw[:300]) for st, _, _, raw in results if st != 200]
    assert not bad, bad[:5]
    streams_whole = [raw for st, _, _, raw in results if raw.rstrip().endswith(b"data: [DONE]")]
    assert streams_whole, "no streaming request completed"
    assert len(results) > 30
    ids = {rid for _, _, rid, _ in results if rid}
    assert len(ids) == len(results)
    rows = await cluster.wait_rows(ids)
    assert len(rows) == len(ids), f"{len(ids) - len(rows)} answers have no log row"


async def test_feedback_through_the_balancer_changes_the_plan_on_every_replica(cluster):
    import json as _json

    replicas = _json.loads((cluster.state / "cluster.json").read_text())["replicas"]
    # confidence 0.5: the low floor at its median (at the default 0.9 ARC's 0/1 grades need a strong plan)
    floor = {"faregate": {"min_quality": 0.3, "confidence": 0.5}}
    headers = {"Authorization": f"Bearer {cluster.keys['open']}"}

    async def ask(s: aiohttp.ClientSession, url: str, i: int) -> tuple[str, str]:
        prompt = rt.ARC.replace("mammal", f"mammal ({i})")
        body = {"model": "auto", "messages": [{"role": "user", "content": prompt}], **floor}
        async with s.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            return r.headers["x-faregate-model"], r.headers["x-request-id"]

    async with aiohttp.ClientSession() as s:
        first = [await ask(s, f"http://127.0.0.1:{r['port']}", 1000 + n) for n, r in enumerate(replicas)]
        assert {m for m, _ in first} == {"m7b"}  # every replica starts on the cheap model
        moved = None
        for i in range(60):  # score 0 for each cheap answer, every call through nginx
            model, rid = await ask(s, cluster.url, i)
            if model != "m7b":
                moved = model
                break
            async with s.post(
                cluster.url + "/v1/feedback", json={"request_id": rid, "score": 0.0}, headers=headers
            ) as r:
                assert r.status in (200, 201, 202), await r.text()
        assert moved is not None, "repeated score 0 through the balancer never moved auto off m7b"
        await asyncio.sleep(2.0)  # > sync_interval_s, with margin on a loaded machine
        after = [await ask(s, f"http://127.0.0.1:{r['port']}", 2000 + n) for n, r in enumerate(replicas)]
    assert all(m != "m7b" for m, _ in after), after
