"""Bounded work per connection and per process for ``faregate serve``.

- **Request head timeout** (``server.header_timeout_s``): a new connection must send a whole
  request head (request line and headers) within it, or it is closed. A client sending its
  headers a byte at a time holds a connection (and a file handle) for that long at most. A
  keep-alive connection waiting for its next request head is closed after
  ``server.keepalive_timeout_s``, whether it is idle or sending slowly.
- **Body timeout** (``server.body_timeout_s``): a request body must arrive whole within it;
  after that the handler's read fails, the client gets a 408 and the connection is closed.
- **Connections** (``server.max_connections``): one more connection is answered at once with a
  503 (``Retry-After``) and closed, before any of its bytes are read.
- **Requests in flight** (``server.max_in_flight``): one more request gets a 503 in the error
  envelope with ``Retry-After``; ``GET /health`` is never refused, so a load balancer still
  sees the process alive (and can see ``/health`` answering while requests are refused).

``CapacityGuard`` holds the counters; ``middleware`` counts requests and bounds the body;
``protocol_factory`` is what the listening socket serves (it builds aiohttp's own
``RequestHandler`` with the head timeout, or a refusal when the process is full).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_protocol import RequestHandler

from ..config import ServerConfig
from ..core.errors import GatewayError

log = logging.getLogger("faregate.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NEVER_REFUSED = frozenset({"/health"})


class Overloaded(GatewayError):
    status = 503
    type = "server_error"
    code = "server_overloaded"


class BodyTimeout(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class CapacityGuard:
    """The caps of one serving process (see the module docstring)."""

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.in_flight = 0
        self.refused_requests = 0
        self.refused_connections = 0
        self.cut_slow_heads = 0
        self.cut_slow_bodies = 0

    # -- requests in flight and request bodies ------------------------------------------------

    def middleware(self) -> Middleware:
        @web.middleware
        async def capacity(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path in NEVER_REFUSED:
                return await handler(request)
            if self.in_flight >= self.cfg.max_in_flight:
                self.refused_requests += 1
                raise Overloaded(
                    f"The gateway is at its limit of {self.cfg.max_in_flight} requests in flight "
                    f"(server.max_in_flight); retry after {self.cfg.overload_retry_after_s} s.",
                    headers={"retry-after": str(self.cfg.overload_retry_after_s)},
                )
            self.in_flight += 1
            timer = None
            if request.body_exists and not request.content.is_eof():
                timer = asyncio.get_running_loop().call_later(self.cfg.body_timeout_s, self._body_late, request)
            try:
                return await handler(request)
            finally:
                self.in_flight -= 1
                if timer is not None:
                    timer.cancel()

        return capacity

    def _body_late(self, request: web.Request) -> None:
        if request.content.is_eof():
            return
        self.cut_slow_bodies += 1
        log.warning("request body from %s not received within %g s: refused", request.remote, self.cfg.body_timeout_s)
        request.content.set_exception(
            BodyTimeout(
                f"The request body did not arrive within {self.cfg.body_timeout_s:g} s (server.body_timeout_s).",
                headers={"connection": "close"},
            )
        )

    # -- connections -------------------------------------------------------------------------

    def protocol_factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        """What the listening socket serves: aiohttp's handler with a head timeout, or a refusal."""
        loop = asyncio.get_running_loop()
        kwargs: dict[str, Any] = {"keepalive_timeout": self.cfg.keepalive_timeout_s, "access_log": None}

        def factory() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.cfg.max_connections:
                self.refused_connections += 1
                return _Refusal(self)
            return _HeadTimedHandler(server, self, loop=loop, **kwargs)

        return factory


class _HeadTimedHandler(RequestHandler):
    """aiohttp's handler, closed when no whole request head arrived within the head timeout."""

    def __init__(self, manager: web.Server, guard: CapacityGuard, **kw: Any) -> None:
        super().__init__(manager, **kw)
        self._fg_guard = guard
        self._fg_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._fg_timer = self._loop.call_later(self._fg_guard.cfg.header_timeout_s, self._fg_head_late)

    def _fg_head_late(self) -> None:
        self._fg_timer = None
        if self._request_count == 0 and self.transport is not None:  # no whole request head yet
            self._fg_guard.cut_slow_heads += 1
            log.info(
                "closed a connection that sent no whole request head within %g s", self._fg_guard.cfg.header_timeout_s
            )
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._fg_timer is not None:
            self._fg_timer.cancel()
            self._fg_timer = None
        super().connection_lost(exc)


class _Refusal(asyncio.Protocol):
    """A connection over ``max_connections``: one 503 in the error envelope, then closed."""

    def __init__(self, guard: CapacityGuard) -> None:
        self._guard = guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cfg = self._guard.cfg
        err = Overloaded(
            f"The gateway is at its limit of {cfg.max_connections} open connections "
            f"(server.max_connections); retry after {cfg.overload_retry_after_s} s."
        )
        body = orjson.dumps(err.envelope())
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {cfg.overload_retry_after_s}\r\nConnection: close\r\n\r\n"
        )
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(head.encode() + body)
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass  # nothing of a refused connection is read
