"""Backends for the storage contract suite: SQLite in a tmp dir and the real PostgreSQL on
loopback (a throwaway database per test). PostgreSQL tests skip when the server is unreachable,
unless FAREGATE_REQUIRE_SERVICES=1, then they fail."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

PG_ADMIN = os.environ.get("FAREGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_up() -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(PG_ADMIN)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


async def make_pg_url() -> tuple[str, str]:
    import asyncpg

    name = "fg_test_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name


async def drop_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'log.db'}"
        return
    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable")
    url, name = await make_pg_url()
    try:
        yield url
    finally:
        await drop_pg(name)
