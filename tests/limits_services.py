"""Backends for the limits contract suite (fixtures re-exported by conftest.py): memory always, Redis when reachable.

Redis tests skip when 127.0.0.1:6379 (or ``FAREGATE_TEST_REDIS_URL``) does not answer, unless
``FAREGATE_REQUIRE_SERVICES=1``: then they fail.
"""

from __future__ import annotations

import os
import secrets
import socket

import pytest

from faregate.limits import open_limit_store

REDIS_URL = os.environ.get("FAREGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(url: str = REDIS_URL) -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def need_redis() -> str:
    if not redis_reachable():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable and FAREGATE_REQUIRE_SERVICES=1")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable")
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        s = open_limit_store("memory://")
    else:
        # A namespace of its own: other tests (and engineers) share this Redis.
        s = open_limit_store(need_redis(), timeout_s=1.0, namespace=f"fgtest:{secrets.token_hex(4)}:")
    yield s
    await s.reset("")
    await s.close()
