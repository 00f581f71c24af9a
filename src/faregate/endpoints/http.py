"""The one shared, pooled HTTP client every upstream call goes through.

The pool is aiohttp's by default. ``http_pool.client: pyreqwest`` (the ``fast`` extra) hands the
model calls (``transport.post`` / ``transport.open_stream``) to an ``UpstreamCalls`` built over
Rust's reqwest (``endpoints/transport_reqwest.py``); the aiohttp session stays open for the few
side calls that use it directly (token counting, remote guardrails).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from ..config import HttpPoolConfig

if TYPE_CHECKING:
    from ..adapters.base import UpstreamRequest
    from ..config import UpstreamCapsConfig
    from ..core.types import ChatRequest, ChatResponse
    from .deployments import Deployment


class ChunkSource(Protocol):
    """A body read chunk by chunk as the bytes arrive; ``b""`` at its end."""

    async def readany(self) -> bytes: ...


class StreamResponse(Protocol):
    """What a stream's reader needs of an opened upstream response (an ``aiohttp.ClientResponse`` is one).

    ``release``: the body was read to its end, the connection may serve another request;
    ``close``: drop the connection now (the upstream stops generating).
    """

    @property
    def content(self) -> ChunkSource: ...

    def release(self) -> Any: ...

    def close(self) -> None: ...


class UpstreamCalls(Protocol):
    """An alternative HTTP client for the model calls: the extension point of ``http_pool.client``.

    It must keep ``transport``'s contract: ``UpstreamError`` kinds for statuses and connection
    failures, ``TimeoutError`` for a timeout while opening a stream, bodies read up to the caps.
    """

    async def post(
        self, dep: Deployment, req: ChatRequest, deadline: float, caps: UpstreamCapsConfig
    ) -> ChatResponse: ...

    async def open_stream(self, dep: Deployment, up: UpstreamRequest, caps: UpstreamCapsConfig) -> StreamResponse: ...

    async def close(self) -> None: ...


class HttpPool:
    """Owns a single ``aiohttp.ClientSession`` with keep-alive connections, opened once, and the
    optional ``fast`` calls that replace it for model calls."""

    def __init__(self, config: HttpPoolConfig | None = None, fast: UpstreamCalls | None = None) -> None:
        self._config = config or HttpPoolConfig()
        self.session: aiohttp.ClientSession | None = None
        self.fast = fast

    @property
    def client(self) -> aiohttp.ClientSession:
        """The open session; calling an upstream before ``start`` is a programming error."""
        if self.session is None:
            raise RuntimeError("the HTTP pool is not started")
        return self.session

    async def start(self) -> None:
        if self.session is None:
            c = self._config
            connector = aiohttp.TCPConnector(
                limit=c.limit,
                limit_per_host=c.limit_per_host,
                keepalive_timeout=c.keepalive_s,
                ttl_dns_cache=c.dns_cache_s,
            )
            # auto_decompress stays on; cookies are never kept between unrelated clients' requests.
            self.session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",)
            )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.fast is not None:
            await self.fast.close()
