"""Exactness across replicas: three `faregate serve` processes sharing one Redis, 1,000
concurrent requests on a key limited to 100 per minute: exactly 100 admitted. Also a budget
race through the three replicas."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
import yaml

from faregate.limits import open_limit_store
from faregate.testing import FakeProvider
from limits_services import need_redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_up(session: aiohttp.ClientSession, url: str, procs, deadline: float) -> None:
    while True:
        try:
            async with session.get(url + "/health") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"faregate serve exited: {p.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not come up")
        await asyncio.sleep(0.05)


@pytest.fixture
async def replicas(tmp_path):
    redis_url = need_redis()
    fake = await FakeProvider("openai", "127.0.0.1", 0).start()
    key = "fg-exact-" + secrets.token_urlsafe(24)
    ns_scope = None
    cfg = {
        "models": [
            {
                "name": "fake",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "base_url": fake.base_url,
                "api_key": "sk-fake",
                "prices": {"input": 1.0, "output": 2.0},
            }
        ],
        "keys": [
            {"key": key, "name": "exact", "limits": {"rpm": 100}},
            {"key": key + "-budget", "name": "budget", "limits": {"budget_usd_day": 0.01}},
        ],
        "learning": {"enabled": False},
        "database_url": f"sqlite:///{tmp_path / 'unused.db'}",
    }
    path = tmp_path / "faregate.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "FAREGATE_REDIS_URL": redis_url, "FAREGATE_LOG_LEVEL": "warning"}
    ports = [free_port() for _ in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "faregate", "serve", "--config", str(path), "--port", str(p)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for p in ports
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        deadline = time.monotonic() + 20
        for u in urls:
            await wait_up(session, u, procs, deadline)
        yield urls, key, session, fake, procs
    finally:
        await session.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        await fake.stop()
        from faregate.keys.secret import hash_key

        store = open_limit_store(redis_url)
        for k in (key, key + "-budget"):
            await store.reset(f"key:cfg_{hash_key(k)[:12]}:")
        await store.close()
        _ = ns_scope


def _stderr(replicas) -> str:
    """What the replicas logged so far (non-blocking)."""
    import fcntl

    out = []
    for p in replicas[4]:
        fd = p.stderr.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        try:
            out.append((p.stderr.read() or b"").decode()[-1500:])
        except (BlockingIOError, TypeError):
            pass
    return "\n".join(out)


async def _post(session, url, key, **body):
    async with session.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "fake", "messages": [{"role": "user", "content": "hi"}], **body},
    ) as r:
        await r.read()
        return r.status


async def test_three_replicas_admit_exactly_100_of_1000(replicas):
    urls, key, session, _, _ = replicas
    statuses = await asyncio.gather(*(_post(session, urls[i % 3], key) for i in range(1000)))
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert counts == {200: 100, 429: 900}, (counts, _stderr(replicas))


async def test_budget_race_across_replicas(replicas):
    urls, key, session, fake, _ = replicas
    # Every answer takes 300 ms and uses exactly what it may (7 prompt + max_tokens 1000 output
    # tokens: $0.002007, the reservation), so all 64 reserve while none has finished.
    fake.default = {"delay_ms": 300, "usage": {"input_tokens": 7, "output_tokens": 1000}}
    results = await asyncio.gather(
        *(_post_cost(session, urls[i % 3], key + "-budget", max_tokens=1000) for i in range(64))
    )
    admitted = [c for s, c in results if s == 200]
    assert sum(1 for s, _ in results if s == 429) == 64 - len(admitted)
    est = (7 * 1.0 + 1000 * 2.0) / 1e6
    spent = sum(admitted)
    assert len(admitted) == int(0.01 // est) == 4, _stderr(replicas)
    assert spent <= 0.01 + est, spent


async def _post_cost(session, url, key, **body):
    async with session.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "fake", "messages": [{"role": "user", "content": "hi"}], **body},
    ) as r:
        data = await r.json()
        return r.status, (data.get("usage", {}).get("cost_usd", 0.0) if r.status == 200 else 0.0)
