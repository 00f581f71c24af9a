"""Shared helpers for tests that talk to real servers on loopback.

- ``LoopThread``: an asyncio loop in a background thread. Fake providers and faregate servers
  run on it, so a test can drive them with the SYNC ``openai`` SDK as well as the async one.
- ``Fake``: a running fake provider (``faregate.testing.FakeProvider``) and its control API
  (``script``, ``requests``, ``reset``), callable from sync and async tests alike.
- ``fake_config``: a faregate config dict serving ``fake-openai``, ``fake-anthropic`` and
  ``fake-gemini`` from the given fakes, with known prices and upstream credentials.
- ``InProcessServer``: faregate's aiohttp app on port 0 (``handler_cancellation=True``, as
  ``faregate serve`` runs it) on a ``LoopThread``.
- ``ServeProcess``: ``faregate serve`` (or ``fake-provider``) as a real subprocess, for tests
  where a real process matters (RSS, start-up without config, the CLI itself).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

GATEWAY_KEY = "fg-test-key"
# Upstream credentials faregate is configured with; tests assert they reach the fakes and never a client.
UPSTREAM_KEYS = {
    "openai": "sk-test-openai-UPSTREAM-SECRET-1",
    "anthropic": "sk-ant-test-UPSTREAM-SECRET-2",
    "gemini": "AIza-test-UPSTREAM-SECRET-3",
}
UPSTREAM_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
# USD per million tokens.
PRICES = {
    "openai": {"input": 0.15, "output": 0.60, "cached_input": 0.075},
    "anthropic": {"input": 3.0, "output": 15.0, "cached_input": 0.30},
    "gemini": {"input": 0.30, "output": 2.50, "cached_input": 0.075},
}
PROTOCOLS = ("openai", "anthropic", "gemini")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cost_of(protocol: str, input_tokens: int, output_tokens: int, cached: int = 0) -> float:
    """The cost faregate must charge for this usage on the model served by ``protocol``'s fake."""
    p = PRICES[protocol]
    return ((input_tokens - cached) * p["input"] + cached * p["cached_input"] + output_tokens * p["output"]) / 1e6


class LoopThread:
    """An event loop running in a daemon thread; ``run(coro)`` runs a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-servers", daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0, key: str | None = None) -> Any:
    """A tiny blocking JSON client (safe from async tests too: the servers run on another thread);
    ``key``: sent as the bearer token."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


class Fake:
    """A running fake provider: ``root`` is its origin (no ``/v1``); the control API is sync."""

    def __init__(self, protocol: str, provider: Any) -> None:
        self.protocol = protocol
        self.provider = provider
        url = (
            getattr(provider, "base_url", None) or getattr(provider, "url", None) or f"http://127.0.0.1:{provider.port}"
        )
        self.root = url.rstrip("/").removesuffix("/v1")

    @property
    def model_base_url(self) -> str:
        """The ``base_url`` faregate's config needs for this fake (OpenAI's includes ``/v1``)."""
        return self.root + "/v1" if self.protocol == "openai" else self.root

    def script(self, *behaviours: dict[str, Any]) -> None:
        http_json("POST", f"{self.root}/_fake/script", list(behaviours))

    def requests(self) -> list[dict[str, Any]]:
        data = http_json("GET", f"{self.root}/_fake/requests")
        return data["requests"] if isinstance(data, dict) else data

    def last_request(self) -> dict[str, Any]:
        reqs = self.requests()
        assert reqs, f"the {self.protocol} fake received no request"
        return reqs[-1]

    def reset(self) -> None:
        http_json("POST", f"{self.root}/_fake/reset", {})


async def start_fake(protocol: str) -> tuple[Any, Fake]:
    """Enter a ``FakeProvider(protocol, port=0)``; returns (the context manager, its ``Fake``)."""
    from faregate.testing import FakeProvider

    provider = FakeProvider(protocol, port=0)
    entered = await provider.__aenter__()
    return provider, Fake(protocol, entered or provider)


def fake_model(fake: Fake, name: str, upstream: str, prices: tuple[float, float], **extra: Any) -> dict[str, Any]:
    """One model served by ``fake`` as ``upstream``, priced ``(input, output)`` USD per M tokens."""
    return {
        "name": name,
        "provider": fake.protocol,
        "model": upstream,
        "base_url": fake.model_base_url,
        "api_key": UPSTREAM_KEYS[fake.protocol],
        "prices": {"input": prices[0], "output": prices[1]},
        "max_attempts": 1,
        **extra,
    }


def fake_config(fakes: dict[str, Fake], *, keys: list[str] = (GATEWAY_KEY,), **extra: Any) -> dict[str, Any]:
    """A config serving ``fake-<protocol>`` for each fake, with ``PRICES`` and ``UPSTREAM_KEYS``."""
    models = [
        {
            "name": f"fake-{p}",
            "provider": p,
            "model": UPSTREAM_MODELS[p],
            "base_url": f.model_base_url,
            "api_key": UPSTREAM_KEYS[p],
            "prices": PRICES[p],
            "max_attempts": 1,
            "timeouts": {"connect": 2, "ttfb": 10, "idle": 5, "total": 20},
        }
        for p, f in fakes.items()
    ]
    cfg: dict[str, Any] = {
        "models": models,
        "keys": [{"key": k} for k in keys],
        "learning": {"enabled": False},
        "cascades": False,
    }
    cfg.update(extra)
    return cfg


class InProcessServer:
    """faregate's app served on a ``LoopThread`` at ``url`` (``base_url`` = ``url + "/v1"``)."""

    def __init__(self, loop: LoopThread, config: dict[str, Any] | Any) -> None:
        self._loop = loop
        self.config = config
        self.gateway = None
        self._runner = None
        self._granian: Any = None
        self.app: Any = None  # the aiohttp application, whichever server serves it
        self.url = ""

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    async def _start(self) -> None:
        from aiohttp import web

        from faregate.config import GatewayConfig
        from faregate.pipeline.gateway import Gateway
        from faregate.server.app import create_app

        cfg = self.config if isinstance(self.config, GatewayConfig) else GatewayConfig.model_validate(self.config)
        self.gateway = Gateway(cfg)
        if os.environ.get("FAREGATE_TEST_SERVER") == "granian":  # the suites on `serve --server granian`
            from faregate.server.rsgi import GranianServing
            from faregate.server.serve import bind_socket

            sock = bind_socket("127.0.0.1", 0)
            self.app = create_app(self.gateway)
            self._granian = await GranianServing(self.app, sock, cfg.server).start()
            self.url = f"http://127.0.0.1:{self._granian.port}"
            return
        self.app = create_app(self.gateway)
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

    def start(self) -> InProcessServer:
        self._loop.run(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup())
            self._runner = None
        if self._granian is not None:
            self._loop.run(self._granian.drain())
            self._granian = None


class ServeProcess:
    """A ``faregate`` subcommand as a real process; ``wait_ready`` polls ``ready_path`` until it answers."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        ready_path: str = "/health",
        cwd: str | Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.ready_path = ready_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> ServeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faregate", *self.args, "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        t_end = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"`faregate {' '.join(self.args)}` exited: "
                    f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}"
                )
            try:
                urllib.request.urlopen(self.url + self.ready_path, timeout=1).read()
                return self
            except urllib.error.HTTPError:
                return self  # it answers (with an error status, e.g. 401): it is up
            except OSError:
                if time.monotonic() > t_end:
                    self.stop()
                    raise RuntimeError(f"`faregate {' '.join(self.args)}` did not come up on {self.url}") from None
                time.sleep(0.05)

    def rss_kib(self) -> int:
        """Resident memory of the process now (Linux ``/proc/<pid>/status``), in KiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without provider credentials or FAREGATE_* settings (plus ``extra``)."""
    drop = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "FAREGATE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env
