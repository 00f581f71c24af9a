"""The one handler of every client-facing API ("front"), parameterised by its ``FrontCodec``.

    add_front(app, "/v1/messages", AnthropicCodec())

Authenticate (before reading the body: an unknown caller learns nothing about validation),
read the body under ``server.max_body_bytes``, parse it with the codec, apply the routing
headers, run the pipeline, and answer with the codec: a JSON reply, a stream, or an error in
the front's own envelope.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..core.bounds import InputBounds
from ..core.errors import GatewayError, InternalError, InvalidRequest
from ..core.types import ChatRequest, ChatResponse
from ..pipeline.context import Principal, RequestContext
from ..wire.codec import FrontCodec, ReplyFacts
from .http import GATEWAY, apply_routing_headers, bearer, read_body, response_headers, stream_reply
from .request_checks import check_request

log = logging.getLogger("faregate")
# A front's way to answer a request later (the router's batch plan): a response now (a 202) or
# None to run the pipeline as usual.
Defer = Callable[[web.Request, ChatRequest, Principal | None, bytes], Awaitable[web.StreamResponse | None]]


def _error(codec: FrontCodec, err: GatewayError, ctx: RequestContext | None) -> web.Response:
    status, body, own = codec.encode_error(err)
    # An error after the pipeline ran is explained too: attempts made, cost of what was consumed.
    headers = {**(response_headers(ctx, with_cost=True) if ctx is not None else {}), **own}
    return web.Response(body=body, status=status, content_type="application/json", headers=headers or None)


def _parse(request: web.Request, codec: FrontCodec, raw: bytes, bounds: InputBounds) -> ChatRequest:
    """The body as the front's request. Any declared content type is read as JSON (``curl -d``
    sends form encoding for a JSON body); when the body is not JSON and its declared type does
    not claim JSON either, the 400 (OpenAI's status for a malformed body) says what to send."""
    try:
        return codec.parse_request(raw, bounds)
    except InvalidRequest as err:
        ctype = request.content_type  # aiohttp's default when none is sent: application/octet-stream
        if err.code == "invalid_json" and not (ctype == "application/json" or ctype.endswith("+json")):
            err.message = f"{err.message} Send a JSON object with Content-Type: application/json (got {ctype})."
        raise


def _facts(ctx: RequestContext, req: ChatRequest) -> ReplyFacts:
    """What the front may render of the answer; ``resumed_at`` is read when a stream ends."""
    return ReplyFacts(
        request_id=ctx.request_id,
        model=ctx.answered_model or req.model,
        cost_usd=ctx.cost_usd,
        include_usage=req.include_usage,
        resumed_at=lambda: ctx.resume_at_chars if ctx.resumed else None,
        request=req,
    )


async def handle_front(request: web.Request, codec: FrontCodec, defer: Defer | None = None) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    try:
        credential = bearer(request)
        principal = gw.known_principal(credential) or await gw.authenticate(credential)
        raw = await read_body(request, gw.config.server.max_body_bytes)
        req = _parse(request, codec, raw, gw.config.bounds.input_bounds())
        apply_routing_headers(req, request)
        check_request(req, gw.config)
        deferred = await defer(request, req, principal, raw) if defer is not None else None
        if deferred is not None:
            return deferred
    except GatewayError as err:
        return _error(codec, err, None)
    except Exception:  # a fault before the pipeline: the front's 500, never aiohttp's HTML page
        log.exception("unexpected error before the pipeline on %s", request.path)
        return _error(codec, InternalError.for_request(None), None)
    ctx = gw.context(req, principal=principal)
    ctx.front, ctx.traceparent = request.path, request.headers.get("traceparent")

    def render(response: ChatResponse) -> bytes:
        return codec.encode_reply(response, _facts(ctx, req))

    try:
        # A complete answer is rendered inside the pipeline, so a rendering fault is logged as the 500 it is.
        reply = await gw.handle(ctx, render, hold_records=True)  # any exception comes out as a GatewayError
    except GatewayError as err:
        return _error(codec, err, ctx)
    if reply.body is not None:
        return await _send_then_record(request, ctx, reply.body)
    assert reply.events is not None
    return await stream_reply(request, ctx, reply.events, codec.stream_encoder(_facts(ctx, req)))


async def _send_then_record(request: web.Request, ctx: RequestContext, body: bytes) -> web.Response:
    """Write a complete answer, then run the request's record hooks (log row, metrics, access
    line): the client has its answer before they run, and they run before anything else."""
    resp = web.Response(body=body, content_type="application/json", headers=response_headers(ctx, with_cost=True))
    try:
        await resp.prepare(request)
        await resp.write_eof()
    except ConnectionError:  # the client left: as aiohttp does when it writes the answer, no error
        pass
    finally:  # a client gone mid-write is still recorded
        ctx.run_records()
    return resp


def add_front(app: web.Application, path: str, codec: FrontCodec, defer: Defer | None = None) -> None:
    """Serve one front at ``POST path``; ``defer`` may answer a request later instead."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await handle_front(request, codec, defer)

    app.router.add_post(path, handler)
