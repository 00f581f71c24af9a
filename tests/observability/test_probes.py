"""``/health/live`` and ``/health/ready``: 503 with the reason while the request-log PostgreSQL is
unreachable (a TCP proxy on loopback in front of the machine's server, closed and reopened:
nobody else's connections are touched), while no deployment is healthy; 200 again after."""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request

import openai
import pytest
from tests.helpers import fake_config, free_port
from tests.storage.conftest import _pg_up, drop_pg, make_pg_url

KEY = "fg-probe-key-000000000000001"


class TcpProxy:
    """127.0.0.1:<port> -> target; ``close()`` refuses and cuts every connection, ``open()`` listens again."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            cw.close()
            return
        self.writers |= {cw, uw}
        await asyncio.gather(self._pipe(cr, uw), self._pipe(ur, cw))

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port, reuse_address=True)

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()
        await self.server.wait_closed()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def pg_url(server_loop):
    if not _pg_up():
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required (FAREGATE_REQUIRE_SERVICES=1) but unreachable")
        pytest.skip("PostgreSQL unreachable")
    url, name = server_loop.run(make_pg_url())
    yield url
    server_loop.run(drop_pg(name))


def test_ready_follows_the_request_log_database(server_loop, start_server, upstreams, pg_url):
    proxy = TcpProxy(5432)
    server_loop.run(proxy.open())
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    srv = start_server(fake_config({"openai": upstreams["openai"]}, keys=[KEY], database_url=via_proxy))
    try:
        assert get(srv.url + "/health/ready") == (200, {"status": "ready"})
        server_loop.run(proxy.close())
        st, out = get(srv.url + "/health/ready")
        assert st == 503 and out["status"] == "not_ready"
        assert out["reasons"] == [out["reasons"][0]] and "request log database unreachable" in out["reasons"][0]
        assert get(srv.url + "/health/live") == (200, {"status": "ok"})  # alive all the same
        assert get(srv.url + "/health")[0] == 200
        server_loop.run(proxy.open())
        assert get(srv.url + "/health/ready") == (200, {"status": "ready"})
    finally:
        if proxy.server is not None and proxy.server.is_serving():
            server_loop.run(proxy.close())


def test_ready_is_503_while_no_deployment_is_healthy(start_server, upstreams, tmp_path):
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY])
    cfg["models"][0]["breaker"] = {"failure_threshold": 1, "cooldown_s": 0.5}
    srv = start_server(cfg)
    assert get(srv.url + "/health/ready")[0] == 200
    upstreams["openai"].script({"status": 500})
    with pytest.raises(openai.InternalServerError):
        openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0).chat.completions.create(
            model="fake-openai", messages=[{"role": "user", "content": "x"}]
        )
    st, out = get(srv.url + "/health/ready")
    assert st == 503 and "no healthy deployment" in out["reasons"][0]
    time.sleep(0.6)  # the cooldown passes: half open, so ready to try again
    assert get(srv.url + "/health/ready")[0] == 200


def test_ready_needs_redis_only_when_the_policy_is_closed(start_server, upstreams):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    cfg = fake_config({"openai": upstreams["openai"]}, keys=[KEY], redis_url=dead)
    assert get(start_server(cfg).url + "/health/ready")[0] == 200  # fail-open limits: still serving
    cfg["limits"] = {"redis_failure_policy": "closed"}
    st, out = get(start_server(cfg).url + "/health/ready")
    assert st == 503 and "redis unreachable" in out["reasons"][0]
