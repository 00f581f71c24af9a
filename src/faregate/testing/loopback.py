"""A real aiohttp server on loopback for the test doubles: start on a port (0: a free one), stop."""

from __future__ import annotations

from typing import Any, Self

from aiohttp import web


class LoopbackServer:
    """Serves ``self.app`` on ``self.host``/``self.port``; after ``start`` the port is the bound one.

    Subclasses build ``self.app`` and set ``runner_kwargs``/``site_kwargs`` for aiohttp when the
    defaults do not fit (a fake provider cancels handlers of clients that leave)."""

    host: str
    port: int
    app: web.Application
    runner_kwargs: dict[str, Any] = {}
    site_kwargs: dict[str, Any] = {}
    _runner: web.AppRunner | None = None

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None, **self.runner_kwargs)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, **self.site_kwargs)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
