"""HTTP helpers every route module shares: the gateway's app key, reading a body under the
size cap, the bearer credential, JSON and error responses, the faregate response headers,
routing headers, and writing a stream. Imports no route module and not the app factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from ..core.errors import GatewayError, InternalError, InvalidRequest, PayloadTooLarge
from ..core.types import ChatRequest
from ..pipeline.context import RequestContext
from ..pipeline.gateway import Gateway
from ..wire.codec import StreamEncoder

GATEWAY = web.AppKey("gateway", Gateway)
log = logging.getLogger("faregate")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(err: GatewayError) -> web.Response:
    return json_response(err.envelope(), status=err.status, headers=err.headers or None)


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    return request.headers.get("x-api-key") or None


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"The request body ({request.content_length} bytes) is over the limit of "
            f"{limit} bytes (server.max_body_bytes)."
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:  # no Content-Length (chunked), and it kept coming
        raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes (server.max_body_bytes).") from None


def response_headers(ctx: RequestContext, *, with_cost: bool) -> dict[str, str]:
    h = {"x-request-id": ctx.request_id, "x-faregate-attempts": str(len(ctx.attempts))}
    if ctx.policy:
        h["x-faregate-policy"] = ctx.policy
    if ctx.answered_model:
        h["x-faregate-model"] = ctx.answered_model
        h["x-faregate-deployment"] = ctx.answered_by or ""
    if ctx.fallback_used:
        h["x-faregate-fallback"] = ctx.answered_model or "true"
    if with_cost:
        h["x-faregate-cost-usd"] = f"{ctx.cost_usd:.10f}".rstrip("0").rstrip(".") or "0"
    h.update(ctx.response_headers)
    return h


ROUTING_HEADERS = (
    ("x-faregate-min-quality", "min_quality"),
    ("x-faregate-confidence", "confidence"),
    ("x-faregate-max-latency-ms", "max_latency_ms"),
    ("x-faregate-max-cost-usd", "max_cost_usd"),
    ("x-faregate-task", "task"),
    ("x-faregate-deadline", "deadline"),
    ("x-faregate-callback-url", "callback_url"),
)
_TEXT_HEADERS = frozenset({"task", "deadline", "callback_url"})  # passed on as strings, checked by the router


def apply_routing_headers(req: ChatRequest, request: web.Request) -> None:
    """Routing constraints may come as headers; the body's ``faregate`` object wins."""
    hdr: dict[str, Any] = {}
    for name, key in ROUTING_HEADERS:
        v = request.headers.get(name)
        if v is not None:
            if key not in _TEXT_HEADERS:
                try:
                    hdr[key] = float(v)
                except ValueError:
                    raise InvalidRequest(f"Header {name} must be a number, got {v[:40]!r}.", param=name) from None
            else:
                hdr[key] = v
    cache = _cache_header(request)
    if cache:
        hdr["cache"] = cache
    if hdr:
        req.routing = {**hdr, **(req.routing or {})}


def _cache_header(request: web.Request) -> str:
    """``x-faregate-cache`` and the ``no-cache``/``no-store`` of ``Cache-Control`` as one
    directive string for the cache step (which validates it)."""
    parts = [request.headers.get("x-faregate-cache", "")]
    cc = {t.strip().lower() for t in request.headers.get("cache-control", "").split(",")}
    parts += [t for t in ("no-cache", "no-store") if t in cc]
    return ", ".join(p for p in parts if p)


async def stream_reply(
    request: web.Request, ctx: RequestContext, events: AsyncIterator[Any], encoder: StreamEncoder
) -> web.StreamResponse:
    """Write a stream as SSE: each event's bytes, then the end; an error after the headers
    goes in-band; a client gone marks the context; the upstream is closed however it ends.

    Events parsed from the same upstream read (``ctx.stream_ready``) go out in one write: they
    arrived together, and one write instead of one each saves a system call per event. An event
    the next one would have to wait for is written at once."""
    headers = response_headers(ctx, with_cost=False)
    headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
    resp = web.StreamResponse(status=200, headers=headers)
    pending: list[bytes] = []
    try:
        # Inside the try: a client gone before the headers are written still closes the upstream.
        await resp.prepare(request)
        async for ev in events:
            data = encoder.render(ev)
            if data:
                pending.append(data)
            if pending and not ctx.stream_ready:
                await resp.write(b"".join(pending))
                pending.clear()
        await resp.write(b"".join(pending) + encoder.end(ctx.cost_usd))
    except (ConnectionResetError, ConnectionError):
        ctx.client_disconnected = True
    except GatewayError as err:
        # Bytes already reached the client: no failover now, an in-band error instead.
        await _write_last(resp, ctx, b"".join(pending) + encoder.error(err))
    except Exception:  # rendering failed: the client still gets the front's error event
        log.exception("writing the stream of %s failed", ctx.request_id)
        await _write_last(resp, ctx, b"".join(pending) + encoder.error(InternalError.for_request(ctx.request_id)))
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return resp


async def _write_last(resp: web.StreamResponse, ctx: RequestContext, data: bytes) -> None:
    try:
        await resp.write(data)
    except (ConnectionResetError, ConnectionError):  # the client left meanwhile
        ctx.client_disconnected = True
