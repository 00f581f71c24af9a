"""A faregate app on a real loopback socket with the key and limits steps, and a stub upstream
that answers at once with a known usage and cost (no provider involved)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

import aiohttp
import pytest
from aiohttp import web

from faregate.config import load_config
from faregate.core.types import ChatResponse
from faregate.core.usage import Usage
from faregate.pipeline.auth_step import AllowList, KeyAuth
from faregate.pipeline.context import Reply, RequestContext
from faregate.pipeline.gateway import Gateway
from faregate.pipeline.limits_step import LimitsStep
from faregate.pipeline.resolve import ResolveModel
from faregate.server.admin_routes import add_admin_routes
from faregate.server.app import create_app

MASTER = "fg-master-" + "m" * 24
CONFIG_KEY = "fg-config-key-for-tests-0123456789"
REDIS_URL = os.environ.get("FAREGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get("FAREGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    if not _reachable(host, port):
        if os.environ.get("FAREGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{name} at {host}:{port} is unreachable and FAREGATE_REQUIRE_SERVICES=1")
        pytest.skip(f"{name} at {host}:{port} is unreachable")


class StubUpstream:
    """The executor's place: answers with ``usage``/``cost`` after ``delay`` seconds."""

    def __init__(self, usage: Usage | None = None, cost_usd: float = 0.0, delay: float = 0.0) -> None:
        self.usage = usage or Usage(10, 5)
        self.cost_usd = cost_usd
        self.delay = delay
        self.calls = 0

    async def __call__(self, ctx: RequestContext) -> Reply:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        ctx.usage = self.usage
        ctx.cost_usd = self.cost_usd
        ctx.answered_model = ctx.request.model
        return Reply(response=ChatResponse(id="x", model=ctx.request.model, content="ok", usage=self.usage))


class App:
    def __init__(self, gw: Gateway, url: str, upstream: StubUpstream, session: aiohttp.ClientSession) -> None:
        self.gw, self.url, self.upstream, self.s = gw, url, upstream, session

    @property
    def auth(self) -> KeyAuth:
        return self.gw.services.auth

    @property
    def limits(self) -> LimitsStep:
        return next(s for s in self.gw.steps if isinstance(s, LimitsStep))

    async def chat(self, key: str | None, model: str = "m1", **body):
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        async with self.s.post(
            f"{self.url}/v1/chat/completions",
            headers=headers,
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], **body},
        ) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.read()

    async def admin(self, method: str, path: str, key: str | None = MASTER, **kw):
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        async with self.s.request(method, f"{self.url}{path}", headers=headers, **kw) as r:
            return r.status, await r.read()


async def start_app(
    tmp_path,
    *,
    overrides: dict | None = None,
    upstream: StubUpstream | None = None,
    redis: bool = False,
    all_routes: bool = False,
):
    raw = {
        "models": [
            {"name": "m1", "prices": {"input": 1.0, "output": 2.0}},
            {"name": "m2", "prices": {"input": 1.0, "output": 2.0}},
        ],
        "database_url": f"sqlite:///{tmp_path / 'keys.db'}",
        "master_key": MASTER,
    }
    if redis:
        raw["redis_url"] = REDIS_URL
    raw.update(overrides or {})
    config = load_config(env={}, overrides=raw)
    upstream = upstream or StubUpstream()

    def steps(config, services, deployments):
        limits = LimitsStep(
            config.limits, config.models, store=services.limit_store, keys=services.auth, stats=services.limit_stats
        )
        return [services.auth, AllowList({"auto"}), limits, ResolveModel(config.models)]

    gw = Gateway(config, steps=steps, executor=upstream)
    if redis:
        gw.services.limit_store.ns = f"fgtest:{secrets.token_hex(4)}:"
    if all_routes:
        from faregate.server.app import default_route_adders

        app = create_app(gw, extra_routes=default_route_adders())
    else:
        app = create_app(gw, extra_routes=[add_admin_routes])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    session = aiohttp.ClientSession()
    return App(gw, f"http://127.0.0.1:{port}", upstream, session), runner, app


@pytest.fixture
async def make_app(tmp_path):
    made = []

    async def make(**kw) -> App:
        app, runner, _ = await start_app(tmp_path, **kw)
        made.append((app, runner))
        return app

    yield make
    for app, runner in made:
        await app.s.close()
        if app.limits.store.__class__.__name__ == "RedisLimitStore":
            await app.limits.store.reset("")
        await runner.cleanup()


async def new_key(app: App, **body) -> tuple[str, str]:
    """Create a key through the admin API: (raw key, id)."""
    import orjson

    status, data = await app.admin("POST", "/admin/keys", json={"name": "t", **body})
    assert status == 201, data
    d = orjson.loads(data)
    return d["key"], d["id"]
