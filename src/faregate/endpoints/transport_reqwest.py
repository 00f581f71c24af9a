"""The model calls over pyreqwest (Rust's reqwest and hyper): ``http_pool.client: pyreqwest``.

The same contract as ``transport.py`` (see ``http.UpstreamCalls``): an HTTP error status is
classified by the deployment's adapter, a refused connection or one dropped mid-answer is a
``transient`` ``UpstreamError`` (a dropped one marked for the quick retry), a timeout is a
``timeout`` one (a stream's opening raises ``TimeoutError``, which the stream reader words), and
bodies are read chunk by chunk up to the caps.

reqwest sets the connect and read timeouts per client, not per request, so there is one client
(and one connection pool) per distinct ``(connect, read)`` pair the deployments use, built on
first use. A non-streaming call gets ``ttfb`` as its read timeout (the wait for the head and
every gap in the body, as aiohttp's ``sock_read``) and the time left as its total timeout. A
stream's waits are bounded by the stream reader (``ttfb``, ``idle``, the deadline); its client's
read timeout is only a backstop, ``stream_read_timeout``, for a stream abandoned before its
head arrived: pyreqwest runs each request as a tokio task that cancelling the Python await
detaches without aborting (0.15.1 has no way to abort one), so that request would otherwise run
until its head came, however late. Streamed bodies are read with no read-ahead buffer:
pyreqwest's default buffers 64 KiB before returning the head, which would hold a short stream
whole before its first event.

pyreqwest is imported when the first client is built, so the module loads without the extra.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import timedelta
from typing import Any

from ..adapters.base import UpstreamRequest
from ..adapters.sse import too_large
from ..config import ConfigError, HttpPoolConfig, UpstreamCapsConfig
from ..core.errors import UpstreamError
from ..core.types import ChatRequest, ChatResponse
from .deployments import Deployment
from .transport import QUICK_RETRY_ATTR, retry_after_s

INSTALL_HINT = "http_pool.client: pyreqwest needs the fast extra: pip install 'faregate[fast]'"
_OS_ERROR = re.compile(r"\s*\(os error \d+\)$")


CLIENTS = ("aiohttp", "pyreqwest")

# Past the stream reader's own bounds: a live stream is cut (and its error worded) by the reader,
# even when the event loop is slow to read the next chunk.
STREAM_BACKSTOP_S = 1.0


def chosen_client(config: HttpPoolConfig, env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """``http_pool.client``, or ``FAREGATE_HTTP_CLIENT`` when set (it flips a whole test run)."""
    name = env.get("FAREGATE_HTTP_CLIENT") or config.client
    if name not in CLIENTS:
        raise ConfigError(f"FAREGATE_HTTP_CLIENT must be one of {', '.join(CLIENTS)}, not {name[:40]!r}.")
    return name


def fast_calls(config: HttpPoolConfig) -> ReqwestCalls | None:
    """The pyreqwest calls when the config (or the environment) chooses them, else ``None`` (aiohttp)."""
    return ReqwestCalls(config) if chosen_client(config) == "pyreqwest" else None


def load_pyreqwest() -> Any:
    """The pyreqwest modules, or a ``ConfigError`` saying how to install them."""
    try:
        import pyreqwest.client
        import pyreqwest.exceptions
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return pyreqwest


def stream_read_timeout(dep: Deployment) -> float:
    """A stream's read timeout in reqwest: the longest wait the stream reader allows (``ttfb``
    for the head, ``idle`` between chunks) and a margin. It is what stops, in Rust, a stream
    abandoned while it waited for its head (a ``ttfb`` timeout, a lost hedge, a client that left)."""
    t = dep.timeouts
    return max(t.ttfb, t.idle) + STREAM_BACKSTOP_S


class ReqwestStream:
    """An opened streaming response as the stream reader reads it (``http.StreamResponse``).

    ``content`` is the stream itself: ``readany`` returns the next chunk as it arrived, ``b""``
    at the end, and raises an ``UpstreamError`` when the connection fails mid-stream.
    """

    __slots__ = ("_calls", "_dep", "_reader", "_request", "headers", "status")

    def __init__(self, calls: ReqwestCalls, dep: Deployment, request: Any, response: Any) -> None:
        self._calls, self._dep, self._request = calls, dep, request
        self._reader = response.body_reader
        self.status: int = response.status
        self.headers = response.headers

    @property
    def content(self) -> ReqwestStream:
        return self

    async def readany(self) -> bytes:
        try:
            chunk = await self._reader.read_chunk()
        except self._calls.errors.PyreqwestError as exc:
            if isinstance(exc, TimeoutError):
                raise UpstreamError(f"{self._dep.id} did not answer within its timeout", kind="timeout") from None
            raise self._calls.connection_error(self._dep, exc) from None
        return b"" if chunk is None else bytes(chunk)

    def release(self) -> None:
        """The body was read to its end: hyper has put the connection back in the pool already."""
        self._request = self._reader = None

    def close(self) -> None:
        """Drop the connection now; the body's remaining bytes are never read."""
        request, self._request, self._reader = self._request, None, None
        if request is not None:
            self._calls.closing(request)


class ReqwestCalls:
    """The ``UpstreamCalls`` over pyreqwest: clients per timeout pair, errors mapped to ``UpstreamError``."""

    def __init__(self, config: HttpPoolConfig | None = None) -> None:
        self._config = config or HttpPoolConfig()
        self._mod = load_pyreqwest()
        self.errors = self._mod.exceptions
        self._clients: dict[tuple[float, float], Any] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def client(self, connect: float, read: float) -> Any:
        """The client (and its connection pool) for one ``(connect, read)`` timeout pair."""
        key = (connect, read)
        client = self._clients.get(key)
        if client is None:
            c = self._config
            b = self._mod.client.ClientBuilder().connect_timeout(timedelta(seconds=connect))
            b = b.read_timeout(timedelta(seconds=read))
            b = b.pool_idle_timeout(timedelta(seconds=c.keepalive_s)).http2(c.http2).follow_redirects(False)
            if c.limit:
                b = b.max_connections(c.limit)
            client = self._clients[key] = b.default_cookie_store(False).referer(False).build()
        return client

    def _request(self, client: Any, up: UpstreamRequest) -> Any:
        return client.request(up.method, up.url).headers(up.headers).body_bytes(up.body)

    async def post(self, dep: Deployment, req: ChatRequest, deadline: float, caps: UpstreamCapsConfig) -> ChatResponse:
        t = dep.timeouts
        up = dep.adapter.request_for(req, dep.target, stream=False)
        remaining = max(0.001, deadline - time.monotonic())
        builder = self._request(self.client(t.connect, t.ttfb), up).timeout(timedelta(seconds=min(t.total, remaining)))
        try:
            async with builder.build_streamed() as resp:
                status = resp.status
                if status >= 400:
                    body = await self._read_capped(resp, caps.max_error_bytes, f"{dep.id}'s error body")
                else:
                    body = await self._read_capped(resp, caps.max_answer_bytes, f"{dep.id}'s answer")
                ctype = resp.headers.get("content-type") or ""
                retry_after = retry_after_s(resp.headers)
        except TimeoutError:  # pyreqwest's RequestTimeoutError is one
            raise UpstreamError(f"{dep.id} did not answer within its timeout", kind="timeout") from None
        except self.errors.PyreqwestError as exc:
            raise self.connection_error(dep, exc) from None
        if status >= 400:
            raise dep.adapter.classify_error(status, body, retry_after_s=retry_after, deployment=dep.id)
        if "json" not in ctype:
            raise UpstreamError(f"{dep.id} answered with content type {ctype or 'none'!r}, not JSON", kind="transient")
        return dep.adapter.response_for(req, body, model=dep.target.model_name)

    async def open_stream(self, dep: Deployment, up: UpstreamRequest, caps: UpstreamCapsConfig) -> ReqwestStream:
        client = self.client(dep.timeouts.connect, stream_read_timeout(dep))
        request = self._request(client, up).streamed_read_buffer_limit(0).build_streamed()
        try:
            # Cancelled here, the request goes on in Rust until its head or the read timeout.
            response = await request.__aenter__()
        except TimeoutError:
            raise  # the stream reader says what timed out
        except self.errors.PyreqwestError as exc:
            raise self.connection_error(dep, exc) from None
        stream = ReqwestStream(self, dep, request, response)
        try:
            if stream.status >= 400:
                body = await self._read_capped(response, caps.max_error_bytes, f"{dep.id}'s error body")
                raise dep.adapter.classify_error(
                    stream.status, body, retry_after_s=retry_after_s(stream.headers), deployment=dep.id
                )
            ctype = stream.headers.get("content-type") or ""
            if "event-stream" not in ctype:
                raise UpstreamError(
                    f"{dep.id} answered a stream with content type {ctype or 'none'!r}", kind="transient"
                )
        except BaseException:
            stream.close()
            raise
        return stream

    async def _read_capped(self, resp: Any, cap: int, what: str) -> bytes:
        """The body, or ``too_large`` once it passes ``cap`` bytes (the caller closes the response)."""
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            raise too_large(f"{what} of {length} bytes is over the cap of {cap}")
        reader = resp.body_reader
        buf = bytearray()
        while (chunk := await reader.read_chunk()) is not None:
            buf += chunk
            if len(buf) > cap:
                raise too_large(f"{what} is over the cap of {cap} bytes")
        return bytes(buf)

    def connection_error(self, dep: Deployment, exc: Exception) -> UpstreamError:
        """A pyreqwest error as a ``transient`` ``UpstreamError`` naming the deployment."""
        e = self.errors
        if isinstance(exc, e.ConnectError):
            causes = (getattr(exc, "details", None) or {}).get("causes") or []
            why = _OS_ERROR.sub("", causes[-1]["message"]) if causes else str(exc)
            return UpstreamError(f"could not connect to {dep.id}: {why}", kind="transient")
        if isinstance(exc, (e.NetworkError, e.DecodeError)):
            err = UpstreamError(
                f"{dep.id} closed the connection before the answer was complete ({type(exc).__name__})",
                kind="transient",
            )
            setattr(err, QUICK_RETRY_ATTR, True)
            return err
        return UpstreamError(f"the connection to {dep.id} failed: {type(exc).__name__}", kind="transient")

    def closing(self, request: Any) -> None:
        """Close a streamed response from synchronous code: its ``__aexit__`` runs as a task."""
        try:
            task = asyncio.get_running_loop().create_task(request.__aexit__(None, None, None))
        except RuntimeError:
            return  # no loop (shut down): dropping the last reference closes it
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
