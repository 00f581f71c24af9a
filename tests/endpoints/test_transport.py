"""Transport helpers: Retry-After parsing, connection errors, the pool's config."""

from __future__ import annotations

import aiohttp

from faregate.config import GatewayConfig, HttpPoolConfig
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.endpoints.http import HttpPool
from faregate.endpoints.transport import client_timeout, connection_error, retry_after_s


def test_retry_after_parsing():
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after-ms": "soon", "retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after": "-2"}) == 0.0
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after_s({}) is None


def test_client_timeouts_are_cached():
    assert client_timeout(10.0, 1.0, 5.0) is client_timeout(10.0, 1.0, 5.0)
    assert client_timeout(None, 1.0, None).total is None


def test_connection_errors_are_transient():
    cfg = GatewayConfig.model_validate({"models": [{"name": "m", "base_url": "http://x/v1"}]})
    dep = DeploymentRegistry(cfg.models).deployments("m")[0]
    err = connection_error(dep, aiohttp.ServerDisconnectedError())
    assert err.kind == "transient" and "closed the connection" in err.message


async def test_pool_uses_its_config():
    pool = HttpPool(HttpPoolConfig(limit=7, limit_per_host=2, keepalive_s=5, dns_cache_s=9))
    await pool.start()
    try:
        connector = pool.client.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert (connector.limit, connector.limit_per_host) == (7, 2)
    finally:
        await pool.close()
    defaults = HttpPoolConfig()
    assert (defaults.limit, defaults.limit_per_host, defaults.keepalive_s, defaults.dns_cache_s) == (1000, 0, 30.0, 300)
