"""A Redis that is down, or that accepts connections and never answers, never hangs a request."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from faregate.limits import Limit, open_limit_store
from faregate.limits.redis_store import LimitsUnavailable


@pytest.fixture
async def silent_redis():
    """A loopback server that accepts connections and never says a word."""
    conns: list = []

    async def swallow(reader, writer):
        conns.append(writer)
        try:
            await reader.read()  # until the client gives up
        except Exception:  # noqa: BLE001
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for w in conns:
        w.close()
    server.close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("kind", ["silent", "refused"])
async def test_fail_open_serves_quickly_and_counts(kind, silent_redis):
    url = silent_redis if kind == "silent" else dead_url()
    store = open_limit_store(url, timeout_s=0.1, failure_policy="open")
    lim = Limit("k:rpm", 1, 60)
    t = time.perf_counter()
    grants = await asyncio.gather(*(store.hit([lim]) for _ in range(20)))
    first = time.perf_counter() - t
    assert all(g.ok and g.degraded for g in grants)
    assert first < 1.0, f"20 requests against a {kind} Redis took {first:.2f}s"
    t = time.perf_counter()
    assert (await store.hit([lim])).degraded
    assert time.perf_counter() - t < 0.05  # marked down: not waited for again at once
    assert store.failures >= 1 and store.degraded >= 21
    assert await store.acquire("k:c", 1, 10) is not None  # concurrency degrades open too
    await store.close()


async def test_fail_closed_answers_503_quickly(silent_redis):
    store = open_limit_store(silent_redis, timeout_s=0.1, failure_policy="closed")
    t = time.perf_counter()
    with pytest.raises(LimitsUnavailable) as ei:
        await store.hit([Limit("k:rpm", 1, 60)])
    assert ei.value.status == 503 and ei.value.headers.get("retry-after")
    assert time.perf_counter() - t < 1.0
    await store.close()
