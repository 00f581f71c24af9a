"""The key database goes away mid-run: a storage failure is a 503 that says so (with
Retry-After), never a 401 "Incorrect API key"; keys resolved recently keep working.

SQLite: the file is renamed away (with its WAL files) while the gateway runs. PostgreSQL: a
throwaway database is dropped while the gateway runs. Also: the key cache is a bounded LRU, so
a flood of unknown keys never evicts the keys in use."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import openai
import pytest

from faregate.config import GatewayConfig
from faregate.keys.resolver import KeyResolver, KeyStoreUnavailable
from faregate.keys.store import KeyStore
from helpers import fake_config

PG_ADMIN = os.environ.get("FAREGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MESSAGES = [{"role": "user", "content": "hi"}]


def _pg_up() -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(PG_ADMIN)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=1):
            return True
    except OSError:
        return False


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request, tmp_path, server_loop):
    """(database URL, a function that makes the database go away)."""
    if request.param == "sqlite":
        path = tmp_path / "keys.db"

        def break_sqlite() -> None:
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(path) + suffix)
                if p.exists():
                    p.rename(tmp_path / f"moved{suffix or '.db'}")

        yield f"sqlite:///{path}", break_sqlite
        return
    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable")
    name = "fg_ops_" + uuid.uuid4().hex[:12]
    server_loop.run(_pg(f"CREATE DATABASE {name}"))

    def drop() -> None:
        server_loop.run(_pg(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name, drop
    drop()


async def _two_keys(url: str) -> tuple[str, str]:
    async with KeyStore(url) as ks:
        a, _ = await ks.create_key("cached")
        b, _ = await ks.create_key("not-cached")
    return a, b


def _call(srv, key: str):
    with openai.OpenAI(base_url=srv.base_url, api_key=key, max_retries=0, timeout=10) as c:
        return c.chat.completions.with_raw_response.create(model="fake-openai", messages=MESSAGES)


def test_a_vanished_key_database_is_a_503_not_a_401(storage, start_server, upstreams, server_loop, tmp_path):
    url, break_db = storage
    key_a, key_b = server_loop.run(_two_keys(url))
    cfg = fake_config(upstreams, keys=[], database_url=url)
    cfg["limits"] = {"key_cache_ttl_s": 30}
    cfg["log_writer"] = {"spill_path": str(tmp_path / "spill.jsonl")}
    srv = start_server(cfg)
    assert _call(srv, key_a).http_response.status_code == 200
    with pytest.raises(openai.AuthenticationError):  # an unknown key is still a 401 while storage is fine
        _call(srv, "fg-" + "x" * 43)

    break_db()

    assert _call(srv, key_a).http_response.status_code == 200  # cached: keeps working for its TTL
    with pytest.raises(openai.APIStatusError) as exc:
        _call(srv, key_b)
    err = exc.value
    assert err.status_code == 503, err.response.text
    body = err.response.json()["error"]
    assert body["code"] == "keys_unavailable" and "storage failure" in body["message"]
    assert "Incorrect API key" not in body["message"]
    assert int(err.response.headers["retry-after"]) >= 1


async def test_the_resolver_raises_on_a_missing_file_it_had_opened(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    key, _ = await _two_keys(url)
    store = KeyStore(url)
    resolver = KeyResolver(GatewayConfig(), store, ttl_s=0, stale_s=0)
    try:
        assert await resolver.resolve(key) is not None
        (tmp_path / "k.db").rename(tmp_path / "gone.db")
        with pytest.raises(KeyStoreUnavailable):
            await resolver.resolve(key)
    finally:
        await store.close()


async def test_the_key_cache_is_an_lru_that_keeps_keys_in_use(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    key, _ = await _two_keys(url)
    store = KeyStore(url)
    resolver = KeyResolver(GatewayConfig(), store, ttl_s=300, max_entries=64)
    reads = 0
    by_hash = store.by_hash

    async def counting(digest):
        nonlocal reads
        reads += 1
        return await by_hash(digest)

    store.by_hash = counting  # type: ignore[method-assign]
    try:
        assert await resolver.resolve(key) is not None
        for i in range(2000):  # a flood of unknown keys, the valid one used now and then
            await resolver.resolve(f"fg-unknown-{i:06d}-" + "z" * 30)
            if i % 16 == 0:
                assert await resolver.resolve(key) is not None
        assert len(resolver._cache) <= 64
        valid_reads = reads - 2000
        assert valid_reads == 1, f"the valid key was read {valid_reads} times: evicted by the flood"
    finally:
        await store.close()


def test_limits_of_keys_in_use_survive_a_flood_of_principals():
    from faregate.keys.resolver import ResolvedKey
    from faregate.pipeline.auth_step import KeyAuth
    from faregate.pipeline.context import Principal

    auth = KeyAuth(GatewayConfig())

    hot = ResolvedKey("hot", "hot", "fg-h", None, None, {"rpm": 1}, {})
    auth._principal(hot)
    for i in range(100_500):
        auth._principal(ResolvedKey(f"k{i}", "n", "fg-", None, None, {}, {}))
        if i % 1000 == 0:
            auth._principal(hot)
    assert auth.limits_for(Principal(key_id="hot"))[0] == {"rpm": 1}
    assert len(auth._resolved) <= 100_000
