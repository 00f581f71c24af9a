"""A real faregate aiohttp server on loopback (run as ``faregate serve`` runs it, with
``handler_cancellation=True``) in front of real fake providers, and the official ``openai`` SDK."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from faregate.config import GatewayConfig
from faregate.pipeline.gateway import Gateway
from faregate.server.app import create_app
from faregate.testing import FakeProvider

KEY = "fg-test-key"
MASTER = "fg-master-test"


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fake:
    """A running fake provider and its control API."""

    def __init__(self, provider: FakeProvider, session: aiohttp.ClientSession) -> None:
        self.provider = provider
        url = (
            getattr(provider, "url", None) or getattr(provider, "base_url", None) or f"http://127.0.0.1:{provider.port}"
        )
        self.base = url.rstrip("/").removesuffix("/v1")
        self._s = session

    async def script(self, *behaviours: dict[str, Any]) -> None:
        async with self._s.post(f"{self.base}/_fake/script", json=list(behaviours)) as r:
            assert r.status < 300, await r.text()

    async def requests(self) -> list[dict[str, Any]]:
        async with self._s.get(f"{self.base}/_fake/requests") as r:
            data = await r.json()
        return data["requests"] if isinstance(data, dict) else data

    async def reset(self) -> None:
        async with self._s.post(f"{self.base}/_fake/reset") as r:
            assert r.status < 300


@pytest.fixture
async def fakes():
    """(OpenAI-wire fake, Anthropic-wire fake), fresh for each test."""
    providers = [FakeProvider("openai", port=0), FakeProvider("anthropic", port=0)]
    entered = []
    async with aiohttp.ClientSession() as s:
        try:
            for p in providers:
                entered.append((p, (await p.__aenter__()) or p))
            yield tuple(Fake(obj, s) for _, obj in entered)
        finally:
            for p, _ in reversed(entered):
                await p.__aexit__(None, None, None)


class Served:
    """faregate behind a real socket; remembers every request context it handled."""

    def __init__(self, gw: Gateway, url: str) -> None:
        self.gw = gw
        self.url = url
        self.contexts: list = []
        self.sleeps: list[float] = []
        self.clients: list[openai.AsyncOpenAI] = []

    def client(self, **kw) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(
            base_url=f"{self.url}/v1",
            api_key=kw.pop("api_key", KEY),
            max_retries=0,
            timeout=kw.pop("timeout", 10.0),
            **kw,
        )
        self.clients.append(c)
        return c

    def breaker(self, model: str, i: int = 0) -> str:
        return self.gw.registry.deployments(model)[i].breaker.state

    def deployment(self, model: str, i: int = 0):
        return self.gw.registry.deployments(model)[i]

    async def last_context(self, timeout: float = 2.0):
        """The last request's context once it is finished (a stream finishes after its last byte)."""
        t_end = asyncio.get_running_loop().time() + timeout
        while not (self.contexts and self.contexts[-1]._finished):
            if asyncio.get_running_loop().time() > t_end:
                raise AssertionError("the request context was not finished")
            await asyncio.sleep(0.005)
        return self.contexts[-1]


def model_config(primary_url: str, fallback_url: str | None = None, **primary: Any) -> dict:
    fast = {"connect": 0.5, "ttfb": 0.4, "idle": 0.3, "total": 5}
    models = [
        {
            "name": "primary",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "base_url": primary_url,
            "api_key": "sk-primary-secret",
            "prices": {"input": 1.0, "output": 2.0},
            "max_attempts": 2,
            "timeouts": fast,
            "breaker": {"failure_threshold": 2, "cooldown_s": 30, "success_threshold": 1},
            "fallbacks": ["backup"] if fallback_url else [],
            **primary,
        }
    ]
    if fallback_url:
        models.append(
            {
                "name": "backup",
                "provider": "anthropic",
                "model": "claude-sonnet-4-5",
                "base_url": fallback_url,
                "api_key": "sk-ant-backup-secret",
                "prices": {"input": 3.0, "output": 15.0},
                "timeouts": fast,
            }
        )
    return {"models": models, "keys": [{"key": KEY}], "master_key": MASTER, "learning": {"enabled": False}}


@pytest.fixture
async def serve(tmp_path):
    runners: list[web.AppRunner] = []
    served_all: list[Served] = []

    async def _serve(config: dict, *, real_sleep: bool = False) -> Served:
        if "database_url" not in config:  # the request log goes to tmp_path, not the working tree
            config = {**config, "database_url": f"sqlite:///{tmp_path / f'log{len(runners)}.db'}"}
        gw = Gateway(GatewayConfig.model_validate(config))
        app = create_app(gw)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        served = Served(gw, f"http://127.0.0.1:{port}")
        if not real_sleep:

            async def no_wait(s: float) -> None:  # backoff is tested on its own; here it only slows
                served.sleeps.append(s)

            gw.executor._sleep = no_wait
        handle = gw.handle

        async def recording(ctx, *args, **kw):
            served.contexts.append(ctx)
            return await handle(ctx, *args, **kw)

        gw.handle = recording
        served_all.append(served)
        return served

    yield _serve
    for s in served_all:
        for c in s.clients:
            await c.close()
    for r in runners:
        await r.cleanup()
