"""faregate's aiohttp application served by granian (RSGI) instead of aiohttp's own server.

    faregate serve --server granian        # needs the fast extra: pip install 'faregate[fast]'

granian parses HTTP in Rust and hands each request to ``RsgiApp.__rsgi__``, which builds the
``aiohttp.web.Request`` the application's handlers and middlewares expect (its body already
read by granian) and runs the application's own request handling; the response aiohttp
renders is written back through ``_RsgiWriter``: a complete body in one
``response_bytes``, a stream chunk by chunk through ``response_stream``. The routes, the
middlewares, the start-up and clean-up signals are the application's, unchanged.

What aiohttp's server did that is done differently here:

- a client that disconnects cancels its handler (aiohttp's ``handler_cancellation``) through
  granian's ``client_disconnect``; a stream written to a closed connection raises
  ``ConnectionResetError``, as aiohttp's writer does;
- a body over ``server.max_body_bytes`` with a ``Content-Length`` is refused (413) without being
  read; one without a length is read up to the cap plus one byte, then refused the same way;
- ``Expect: 100-continue`` is granian's: it sends "100 Continue" when the body is read (a body
  refused unread gets its 413 without one); the "100 Continue" aiohttp's expect handler writes
  is dropped by the writer, as is anything written before the response head;
- the request head timeout is granian's (``server.header_timeout_s``, passed on by
  ``GranianServing``); ``server.max_connections`` and the keep-alive timeout, which the
  capacity guard's protocol applies under aiohttp, are not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion10, HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..config import ServerConfig

log = logging.getLogger("faregate.http")

# Framing is granian's: aiohttp's framing headers would contradict it.
_HOP = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length"})


class _Transport:
    """What a request asks of its transport. A file response's ``loop.sendfile`` asks
    ``is_closing`` first: the ``NotImplementedError`` there makes aiohttp's ``FileResponse``
    fall back to writing the file through the response writer (granian owns the socket)."""

    __slots__ = ("_info",)

    def __init__(self, peer: Any, sock: Any) -> None:
        self._info = {"peername": peer, "sockname": sock}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._info.get(name, default)

    def is_closing(self) -> bool:
        raise NotImplementedError("granian owns the connection: no sendfile")


class _Protocol:
    """The parts of aiohttp's ``RequestHandler`` a request, its body reader and a multipart
    reader read."""

    __slots__ = ("transport", "peername", "sockname", "_reading_paused")
    ssl_context = None
    max_line_size = max_field_size = 8190  # aiohttp's defaults
    max_headers = 128

    def __init__(self, peer: Any, sock: Any) -> None:
        self.peername, self.sockname = peer, sock
        self.transport = _Transport(peer, sock)
        self._reading_paused = False

    def pause_reading(self) -> None:  # the body is in memory already: nothing to pause
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


class _RsgiWriter(AbstractStreamWriter):
    """aiohttp's response writer, writing to granian: a complete answer in one call (headers
    and body together), a stream as granian's stream transport."""

    def __init__(self, proto: Any) -> None:
        self._proto = proto
        self._status = 200
        self._headers: list[tuple[str, str]] = []
        self._stream: Any = None
        self._head: bool = False  # write_headers has run: writes from then on are the body
        self.buffer_size = self.output_size = 0
        self.length = None

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self._head = True
        self._status = int(status_line.split(" ", 2)[1])
        self._headers = [(k, v) for k, v in headers.items() if k.lower() not in _HOP]

    def send_headers(self) -> None:
        # A StreamResponse sends its head at once (its first chunk may be a while); a Response
        # never calls this, its head goes with its body.
        if self._stream is None:
            self._stream = self._proto.response_stream(self._status, self._headers)

    def enable_chunking(self) -> None:
        pass

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise RuntimeError("response compression is not supported under granian")

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if not chunk:
            return
        if not self._head:
            # Before the head only an interim response is written: the expect handler's
            # "100 Continue". granian sends that itself when the body is read (and the body is
            # read before the handler runs), so writing it would open a 200 with it as body.
            return
        self.send_headers()
        self.output_size += len(chunk)
        try:
            await self._stream.send_bytes(bytes(chunk))
        except RuntimeError as exc:  # granian's ProtocolClosed: the client went away
            raise ConnectionResetError("the client closed the connection") from exc

    async def write_eof(self, chunk: bytes = b"") -> None:
        if self._stream is None:
            self.output_size += len(chunk)
            self._proto.response_bytes(self._status, self._headers, bytes(chunk))
        elif chunk:
            await self.write(chunk)

    async def drain(self) -> None:
        pass

    def release(self) -> None:
        """End the response. granian ends a stream when its transport object is freed, and a
        traceback kept by an error (a stream that ended in-band) may hold this writer for long."""
        self._stream = None


def _message(scope: Any) -> RawRequestMessage:
    headers = CIMultiDictProxy(CIMultiDict(scope.headers.items()))
    target = scope.path + ("?" + scope.query_string if scope.query_string else "")
    version = HttpVersion10 if scope.http_version == "1.0" else HttpVersion11
    url = URL.build(path=scope.path, query_string=scope.query_string, encoded=True)
    return RawRequestMessage(scope.method, target, version, headers, (), False, None, False, False, url)


def _address(spec: str) -> tuple[str, int] | None:
    host, _, port = spec.rpartition(":")
    return (host.strip("[]"), int(port)) if port.isdigit() else None


class RsgiApp:
    """An aiohttp application as an RSGI application (``__rsgi__``), for granian's server."""

    def __init__(self, app: web.Application, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def startup(self) -> None:
        self.app.freeze()
        await self.app.startup()

    async def cleanup(self) -> None:
        await self.app.shutdown()
        await self.app.cleanup()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        message = _message(scope)
        protocol = _Protocol(_address(scope.client), _address(scope.server))
        payload = StreamReader(protocol, 2**16, loop=loop)  # type: ignore[arg-type]
        await self._read_body(message, proto, payload)
        writer = _RsgiWriter(proto)
        request = web.Request(
            message,
            payload,
            protocol,  # type: ignore[arg-type]
            writer,
            task,
            loop,
            client_max_size=self.max_body_bytes,
            scheme=scope.scheme,
        )
        watch = asyncio.ensure_future(proto.client_disconnect())

        def left(_: object) -> None:
            task.cancel()

        watch.add_done_callback(left)
        self.in_flight.add(task)
        try:
            resp = await self._handle(request)
            if resp is not None:
                await resp.prepare(request)
                await resp.write_eof()
        except (asyncio.CancelledError, ConnectionError):
            pass  # the client left: nothing to answer
        finally:
            writer.release()
            self.in_flight.discard(task)
            watch.remove_done_callback(left)
            watch.cancel()

    async def _read_body(self, message: RawRequestMessage, proto: Any, payload: StreamReader) -> None:
        length = message.headers.get(hdrs.CONTENT_LENGTH)
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            payload.feed_eof()  # the handler refuses it by its Content-Length, unread
            return
        if length is not None:
            body = await proto()
        else:  # no length: read up to the cap and one byte, so an over-long body is seen as such
            parts, size = [], 0
            async for chunk in proto:
                parts.append(chunk)
                size += len(chunk)
                if size > self.max_body_bytes:
                    break
            body = b"".join(parts)
        if body:
            payload.feed_data(body)
        payload.feed_eof()

    async def _handle(self, request: web.Request) -> web.StreamResponse | None:
        try:
            return await self.app._handle(request)
        except web.HTTPException as exc:
            return exc
        except (asyncio.CancelledError, ConnectionError):
            raise
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            return web.Response(status=500, text="Internal Server Error")


class GranianServing:
    """``faregate serve --server granian``: the same start, drain and hurry as ``Serving``
    (``serve.py``), with granian's embedded server on this event loop in place of aiohttp's.

    granian binds its own listener, so the socket ``faregate serve`` bound (which proved the
    address free and picked a port for ``--port 0``) is closed and its address handed over."""

    def __init__(self, app: web.Application, sock: socket.socket, cfg: ServerConfig) -> None:
        from .capacity import CapacityGuard

        self.app, self.cfg = app, cfg
        app.middlewares.append(CapacityGuard(cfg).middleware())  # requests in flight
        self.host, self.port = sock.getsockname()[:2]
        sock.close()
        self.rsgi = RsgiApp(app, cfg.max_body_bytes)
        self._server: Any = None
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> GranianServing:
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings
        from granian.server.embed import Server

        await self.rsgi.startup()
        self._server = Server(
            self.rsgi,
            address=self.host,
            port=self.port,
            interface=Interfaces.RSGI,
            backlog=1024,
            http1_settings=HTTP1Settings(header_read_timeout=int(self.cfg.header_timeout_s * 1000)),
            log_enabled=False,
        )
        self._serving = asyncio.create_task(self._server.serve())
        await self._listening()
        return self

    async def _listening(self, timeout_s: float = 10.0) -> None:
        """Return once granian accepts connections (its workers start a few steps after it binds)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            assert self._serving is not None
            if self._serving.done():
                self._serving.result()  # granian's own error
                raise RuntimeError("granian stopped before it served")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.01)
                continue
            writer.close()
            return

    async def drain(self) -> None:
        from .probe_routes import DRAIN

        drain = self.app.get(DRAIN)
        if drain is not None:
            drain.draining = True
        if self._server is not None:
            self._server.stop()
        if self.rsgi.in_flight:
            await asyncio.wait(set(self.rsgi.in_flight), timeout=self.cfg.drain_timeout_s)
        await self._stop()

    async def hurry(self, drain: asyncio.Task[None]) -> None:
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
        for task in list(self.rsgi.in_flight):
            task.cancel()
        await self._stop()

    async def _stop(self) -> None:
        if self._serving is not None:
            serving, self._serving = self._serving, None
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            await self.rsgi.cleanup()
