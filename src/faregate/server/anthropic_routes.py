"""``POST /v1/messages``: the Anthropic Messages API in front of the same pipeline."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import GatewayError
from ..pipeline.context import RequestContext
from ..pipeline.gateway import Gateway
from ..wire.anthropic_front import MessageStreamRenderer, error_body, parse_messages_request, render_message
from ..wire.openai_front import decode_json
from .app import (
    GATEWAY,
    StreamCodec,
    apply_routing_headers,
    bearer,
    json_response,
    read_body,
    response_headers,
    stream_reply,
)


class AnthropicStreamCodec(StreamCodec):
    def __init__(self, ctx: RequestContext, model_name: str) -> None:
        self._r = MessageStreamRenderer(request_id=ctx.request_id, model=model_name)
        self.render = self._r.render

    def end(self, ctx: RequestContext) -> bytes:
        return self._r.end()

    def error(self, err: GatewayError) -> bytes:
        return MessageStreamRenderer.error(err)


async def messages(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    ctx: RequestContext | None = None
    try:
        principal = await gw.authenticate(bearer(request))
        raw = await read_body(request, gw.config.server.max_body_bytes)
        req = parse_messages_request(decode_json(raw))
        apply_routing_headers(req, request)
        ctx = gw.context(req, principal=principal)
        reply = await gw.handle(ctx)
    except GatewayError as err:
        # Anthropic clients expect Anthropic's error shape on this route.
        # Explained like an answer: attempts made and the cost of what was consumed.
        headers = {**(response_headers(ctx, with_cost=True) if ctx is not None else {}), **err.headers}
        return json_response(error_body(err), status=err.status, headers=headers or None)
    model_name = ctx.answered_model or req.model
    if reply.response is not None:
        return web.Response(
            body=render_message(reply.response, request_id=ctx.request_id, model=model_name),
            content_type="application/json",
            headers=response_headers(ctx, with_cost=True),
        )
    return await stream_reply(request, ctx, reply.events, AnthropicStreamCodec(ctx, model_name))


def add_anthropic_routes(app: web.Application, gateway: Gateway) -> None:
    app.router.add_post("/v1/messages", messages)
