"""One contract for every cache storage layer: memory, Redis, SQLite, PostgreSQL.

Redis and PostgreSQL run against the real servers on loopback (skipped when unreachable,
failed when FAREGATE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import pytest

from faregate.cache.db_layer import DatabaseLayer
from faregate.cache.keys import model_hash, scope_hash
from faregate.cache.layer import CacheLayer, LayerDown, Meta, Selector
from faregate.cache.memory import MemoryLayer
from faregate.cache.redis_layer import RedisLayer
from limits_services import need_redis
from storage.conftest import PG_ADMIN, _pg_up, drop_pg, make_pg_url


def _need_pg() -> None:
    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable")


@pytest.fixture(params=["memory", "redis", "sqlite", "postgres"])
async def layer(request, tmp_path):
    pg_name = None
    la: CacheLayer
    if request.param == "memory":
        la = MemoryLayer(1 << 20)
    elif request.param == "redis":
        la = RedisLayer(need_redis(), timeout_s=1.0, prefix=f"fgtest:{secrets.token_hex(4)}:cache:")
    elif request.param == "sqlite":
        la = DatabaseLayer(f"sqlite:///{tmp_path / 'cache.db'}")
    else:
        _need_pg()
        url, pg_name = await make_pg_url()
        la = DatabaseLayer(url)
    await la.start()
    yield la
    try:
        await la.delete(Selector())
    finally:
        await la.close()
        if pg_name:
            await drop_pg(pg_name)


async def settle(la: CacheLayer) -> None:
    if isinstance(la, DatabaseLayer):
        await la.flush()


def key(scope: str, model: str, n: int) -> str:
    return f"{scope_hash(scope)}.{model_hash(model)}.{n:040d}"


async def test_set_then_get_roundtrip(layer):
    k = key("team:a", "m1", 1)
    assert await layer.get(k) is None
    await layer.set(k, b'{"c":"hello"}', 60, Meta(scope_hash("team:a"), "m1", "req-1"))
    await settle(layer)
    assert await layer.get(k) == b'{"c":"hello"}'
    # Overwriting replaces the value.
    await layer.set(k, b'{"c":"again"}', 60, Meta(scope_hash("team:a"), "m1", "req-2"))
    await settle(layer)
    assert await layer.get(k) == b'{"c":"again"}'


async def test_entries_expire(layer):
    k = key("team:a", "m1", 2)
    await layer.set(k, b"v", 0.3, Meta(scope_hash("team:a"), "m1", "req-3"))
    await settle(layer)
    assert await layer.get(k) == b"v"
    await asyncio.sleep(0.5)
    assert await layer.get(k) is None


async def test_delete_by_scope_model_key_and_request_id(layer):
    entries = {
        key("team:a", "m1", 10): ("team:a", "m1", "r10"),
        key("team:a", "m2", 11): ("team:a", "m2", "r11"),
        key("team:b", "m1", 12): ("team:b", "m1", "r12"),
        key("team:b", "m2", 13): ("team:b", "m2", "r13"),
    }
    for k, (scope, model, rid) in entries.items():
        await layer.set(k, rid.encode(), 60, Meta(scope_hash(scope), model, rid))
    await settle(layer)

    async def held() -> set[str]:
        return {k for k in entries if await layer.get(k) is not None}

    assert await held() == set(entries)
    await layer.delete(Selector(request_id="r13"))
    assert await held() == set(entries) - {key("team:b", "m2", 13)}
    await layer.delete(Selector(key=key("team:b", "m1", 12)))
    assert await held() == {key("team:a", "m1", 10), key("team:a", "m2", 11)}
    await layer.delete(Selector(scope_hash=scope_hash("team:a"), model_hash=model_hash("m2")))
    assert await held() == {key("team:a", "m1", 10)}
    await layer.delete(Selector(scope_hash=scope_hash("team:a")))
    assert await held() == set()


async def test_keys_and_size(layer):
    ks = [key("global", "m", i) for i in range(3)]
    for i, k in enumerate(ks):
        await layer.set(k, b"x" * 10, 60, Meta(scope_hash("global"), "m", f"s{i}"))
    await settle(layer)
    entries, _bytes = await layer.size()
    assert entries == 3
    listed = {k for k, _exp in await layer.keys()}
    # Redis is shared by replicas and lists nothing (the service reads it on every miss instead).
    assert listed == (set() if isinstance(layer, RedisLayer) else set(ks))


async def test_memory_layer_is_bounded_by_bytes_and_evicts_lru():
    la = MemoryLayer(4000)
    meta = Meta("s", "m", "r")
    for i in range(10):
        await la.set(f"k{i}", b"x" * 500, 60, meta)
        await la.get("k0")  # keep k0 recently used
    entries, size = await la.size()
    assert size <= 4000 and entries < 10
    assert await la.get("k0") is not None and await la.get("k1") is None


async def test_redis_down_raises_layer_down_fast_and_pauses():
    from storage.conftest import closed_port

    la = RedisLayer(f"redis://127.0.0.1:{closed_port()}/0", timeout_s=0.05, retry_s=5)
    await la.start()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(LayerDown):
        await la.get("k")
    with pytest.raises(LayerDown):  # paused: no second connection attempt
        await la.set("k", b"v", 1, Meta("s", "m", "r"))
    assert loop.time() - t0 < 0.5
    assert la.down
    await la.close()


async def test_semantic_entries_are_the_live_ones_newest_first(layer):
    """What rebuilds the semantic index after a restart: entries marked with a semantic group
    whose semantic lifetime has not ended, the latest-ending first, at most ``limit``."""
    now = time.time()
    marked = {key("team:a", "m1", 20): now + 60, key("team:a", "m1", 21): now + 120, key("team:a", "m1", 22): now - 1}
    for i, (k, until) in enumerate(marked.items()):
        await layer.set(k, f"v{i}".encode(), 60, Meta(scope_hash("team:a"), "m1", f"r{i}", "group", until))
    await layer.set(key("team:a", "m1", 23), b"plain", 60, Meta(scope_hash("team:a"), "m1", "r9"))
    await settle(layer)
    got = await layer.semantic_entries(10)
    if isinstance(layer, MemoryLayer):  # does not outlive the process: nothing to rebuild from
        assert got == []
        return
    assert got == [(key("team:a", "m1", 21), b"v1"), (key("team:a", "m1", 20), b"v0")]
    assert await layer.semantic_entries(1) == [(key("team:a", "m1", 21), b"v1")]
