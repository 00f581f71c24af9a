"""The HTTP call to an upstream over the shared pool, with its failures as ``UpstreamError`` kinds.

One non-streaming POST returning the parsed answer (``post``), or a streaming response opened
and checked (``open_stream``). Connection failures and timeouts become ``transient`` or
``timeout`` errors; an HTTP error status is classified by the deployment's adapter. There is
no retry here: what to do after a failure is the pipeline's retry policy.

Bodies are read up to the model's ``upstream_caps`` (an answer, an error body): past a cap the
connection is dropped and the attempt fails as a 502 that says the answer was too large.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import aiohttp

from ..adapters.base import UpstreamRequest
from ..adapters.sse import too_large
from ..config import UpstreamCapsConfig
from ..core.errors import UpstreamError
from ..core.types import ChatRequest, ChatResponse
from .deployments import Deployment
from .http import HttpPool, StreamResponse


@functools.lru_cache(maxsize=256)
def client_timeout(total: float | None, connect: float, read: float | None) -> aiohttp.ClientTimeout:
    """Timeouts are immutable: the common case (the whole model timeout left) is built once."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


_DEFAULT_CAPS = UpstreamCapsConfig()
_READ_CHUNK = 64 * 1024
# Connection errors worth one quick retry of the same deployment: the peer dropped a connection
# (a reset, a keep-alive connection closed under us), not "nobody listens there".
QUICK_RETRY_ATTR = "quick_retry"


async def read_capped(resp: aiohttp.ClientResponse, cap: int, what: str) -> bytes:
    """The body, or ``too_large`` (the connection closed) once it passes ``cap`` bytes."""
    length = resp.content_length
    if length is not None and length > cap:
        resp.close()
        raise too_large(f"{what} of {length} bytes is over the cap of {cap}")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(_READ_CHUNK):
        buf += chunk
        if len(buf) > cap:
            resp.close()
            raise too_large(f"{what} is over the cap of {cap} bytes")
    return bytes(buf)


async def post(
    pool: HttpPool, dep: Deployment, req: ChatRequest, deadline: float, caps: UpstreamCapsConfig = _DEFAULT_CAPS
) -> ChatResponse:
    """One non-streaming call: the parsed answer, or an ``UpstreamError`` of the right kind."""
    if pool.fast is not None:
        return await pool.fast.post(dep, req, deadline, caps)
    t = dep.timeouts
    up = dep.adapter.request_for(req, dep.target, stream=False)
    remaining = max(0.001, deadline - time.monotonic())
    # sock_read bounds the wait for the answer to start and every gap in its body.
    timeout = client_timeout(min(t.total, remaining), t.connect, t.ttfb)
    try:
        async with pool.client.request(up.method, up.url, headers=up.headers, data=up.body, timeout=timeout) as resp:
            status = resp.status
            if status >= 400:
                body = await read_capped(resp, caps.max_error_bytes, f"{dep.id}'s error body")
            else:
                body = await read_capped(resp, caps.max_answer_bytes, f"{dep.id}'s answer")
            ctype = resp.headers.get("content-type", "")
            retry_after = retry_after_s(resp.headers)
    except TimeoutError:  # aiohttp's ServerTimeoutError is one too
        raise UpstreamError(f"{dep.id} did not answer within its timeout", kind="timeout") from None
    except aiohttp.ClientError as exc:
        raise connection_error(dep, exc) from None
    if status >= 400:
        raise dep.adapter.classify_error(status, body, retry_after_s=retry_after, deployment=dep.id)
    if "json" not in ctype:
        raise UpstreamError(f"{dep.id} answered with content type {ctype or 'none'!r}, not JSON", kind="transient")
    return dep.adapter.response_for(req, body, model=dep.target.model_name)


async def open_stream(
    pool: HttpPool, dep: Deployment, up: UpstreamRequest, caps: UpstreamCapsConfig = _DEFAULT_CAPS
) -> StreamResponse:
    """Send a streaming request and return the response once it is known to be an event stream.

    No overall timeout: the caller bounds the wait (and reads the body). An error status is
    classified by the adapter; either way a refused response is released or closed here.
    Connection errors are raised as aiohttp raised them (``connection_error`` maps them).
    """
    if pool.fast is not None:
        return await pool.fast.open_stream(dep, up, caps)
    timeout = client_timeout(None, dep.timeouts.connect, None)
    resp = await pool.client.request(up.method, up.url, headers=up.headers, data=up.body, timeout=timeout)
    try:
        if resp.status >= 400:
            body = await read_capped(resp, caps.max_error_bytes, f"{dep.id}'s error body")
            resp.release()  # the body is read: the connection can serve another request
            raise dep.adapter.classify_error(
                resp.status, body, retry_after_s=retry_after_s(resp.headers), deployment=dep.id
            )
        ctype = resp.headers.get("content-type", "")
        if "event-stream" not in ctype:
            raise UpstreamError(f"{dep.id} answered a stream with content type {ctype or 'none'!r}", kind="transient")
    except BaseException:
        resp.close()
        raise
    return resp


def retry_after_s(headers: Any) -> float | None:
    """The provider's requested pause: ``retry-after-ms``, else ``retry-after`` in seconds."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: treat as absent rather than guess the clock skew


def connection_error(dep: Deployment, exc: Exception) -> UpstreamError:
    """An aiohttp client error as a ``transient`` ``UpstreamError`` naming the deployment."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"could not connect to {dep.id}: {exc.os_error.strerror or exc}", kind="transient")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        err = UpstreamError(
            f"{dep.id} closed the connection before the answer was complete ({type(exc).__name__})", kind="transient"
        )
        setattr(err, QUICK_RETRY_ATTR, True)
        return err
    return UpstreamError(f"the connection to {dep.id} failed: {type(exc).__name__}", kind="transient")
