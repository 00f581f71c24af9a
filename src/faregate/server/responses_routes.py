"""The Responses API: ``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}`` and
``POST /v1/responses/input_tokens`` (``responses_tokens``).

``POST`` is the generic front handler's flow (``front_handler``) with the two steps the
Responses API adds around the pipeline: before it, ``previous_response_id`` loads the stored
conversation (only the key that stored it may continue it); after it, the response is stored
(``store`` defaults to true) before the answer's last byte, so the next request can continue it.
Keys, limits, routing, failover, the cache and the request log are the chat pipeline's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..config import GatewayConfig
from ..core.errors import GatewayError, InternalError, InvalidRequest, NotFound
from ..pipeline.context import Principal
from ..pipeline.gateway import Gateway
from ..storage.responses_store import ResponseStore, as_history
from ..wire.codec import ReplyFacts, decode_json
from ..wire.responses_codec import ResponsesCodec
from ..wire.responses_front import ResponsesCall, build_call, check_body
from ..wire.responses_render import ResponseStreamEncoder
from .front_handler import _error
from .http import GATEWAY, apply_routing_headers, bearer, json_response, read_body, response_headers, stream_reply
from .request_checks import _candidates, check_request
from .responses_tokens import count_input_tokens

log = logging.getLogger("faregate")
STORE = web.AppKey("responses_store", ResponseStore)
_CODEC = ResponsesCodec()  # errors before a call is parsed


def owner_of(principal: Principal | None) -> str:
    """Whose stored responses a caller sees: its key id ('' on a gateway without keys)."""
    return principal.key_id if principal is not None else ""


async def _principal(request: web.Request) -> Principal | None:
    gw = request.app[GATEWAY]
    credential = bearer(request)
    return gw.known_principal(credential) or await gw.authenticate(credential)


async def load_call(request: web.Request, principal: Principal | None) -> ResponsesCall:
    """The request's call, its stored history loaded (a 404 for an id this key cannot see)."""
    gw = request.app[GATEWAY]
    raw = await read_body(request, gw.config.server.max_body_bytes)
    bounds = gw.config.bounds.input_bounds()
    body = check_body(decode_json(raw), bounds)
    history: list[dict[str, Any]] = []
    prev = body.get("previous_response_id")
    if prev:
        stored = await request.app[STORE].get(owner_of(principal), prev)
        if stored is None:
            raise NotFound(
                f"No stored response {prev[:80]!r} for this key: it was made with store: false, deleted, "
                "or by another key.",
                param="previous_response_id",
            )
        history = stored.history
    return build_call(body, history, bounds)


def refuse_native(call: ResponsesCall, gw: Gateway) -> None:
    """Built-in tools (and the like) only where every model the request may reach is served
    over the Responses API; otherwise a 400 that says which model would lack them."""
    if not call.native_only:
        return
    config: GatewayConfig = gw.config
    asked = config.model(call.request.model)
    names = [asked.name, *asked.fallbacks] if asked else [m.name for m in _candidates(call.request, config) or []]
    lacking = [n for n in dict.fromkeys(names) if not all(d.target.responses_api for d in gw.registry.deployments(n))]
    if not names:
        return  # an unknown model: the pipeline answers 404
    if lacking:
        raise InvalidRequest(
            f"{', '.join(call.native_only)} is a built-in tool of the OpenAI Responses API; model(s) "
            f"{', '.join(lacking)} are not served over that API (responses_api: true), "
            "so they cannot run it. Send function tools, or name a model whose upstream serves /v1/responses.",
            param="tools",
        )


async def create_response(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    try:
        principal = await _principal(request)
        call = await load_call(request, principal)
        refuse_native(call, gw)
        apply_routing_headers(call.request, request)
        check_request(call.request, gw.config)
    except GatewayError as err:
        return _error(_CODEC, err, None)
    ctx = gw.context(call.request, principal=principal)
    ctx.front, ctx.traceparent = request.path, request.headers.get("traceparent")
    try:
        reply = await gw.handle(ctx)
    except GatewayError as err:
        return _error(_CODEC, err, ctx)
    codec, owner = ResponsesCodec.for_call(call), owner_of(principal)
    store = request.app[STORE] if call.store else None
    facts = ReplyFacts(request_id=ctx.request_id, model=ctx.answered_model or call.request.model, cost_usd=ctx.cost_usd)
    if reply.response is not None:
        obj = codec.response_object(reply.response, facts)
        if store is not None:
            await _save(store, owner, obj, call)
        return json_response(obj, headers=response_headers(ctx, with_cost=True))
    assert reply.events is not None
    encoder = codec.stream_encoder(facts)
    events = _storing(reply.events, encoder, store, owner, call, lambda: ctx.cost_usd)
    return await stream_reply(request, ctx, events, encoder)


async def _save(store: ResponseStore, owner: str, obj: dict, call: ResponsesCall) -> None:
    try:
        await store.save(owner, obj, as_history(call.items, obj["output"]))
    except Exception:  # the answer still goes out; only its continuation is lost
        log.exception("storing response %s failed", obj.get("id"))


async def _storing(
    events: AsyncIterator[Any],
    encoder: ResponseStreamEncoder,
    store: ResponseStore | None,
    owner: str,
    call: ResponsesCall,
    cost: Any,
) -> AsyncIterator[Any]:
    """The stream's events; once they are all out (before ``response.completed``), the store."""
    async for ev in events:
        yield ev
    if store is not None:
        await _save(store, owner, encoder.final(cost()), call)


async def get_response(request: web.Request) -> web.Response:
    principal = await _principal(request)
    stored = await request.app[STORE].get(owner_of(principal), request.match_info["id"])
    if stored is None:
        raise NotFound(f"No stored response {request.match_info['id'][:80]!r} for this key.", param="response_id")
    return json_response(stored.response)


async def delete_response(request: web.Request) -> web.Response:
    principal = await _principal(request)
    rid = request.match_info["id"]
    if not await request.app[STORE].delete(owner_of(principal), rid):
        raise NotFound(f"No stored response {rid[:80]!r} for this key.", param="response_id")
    return json_response({"id": rid, "object": "response", "deleted": True})


async def input_tokens(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        principal = await _principal(request)
        call = await load_call(request, principal)
        count, source = await count_input_tokens(gw, call, principal)
    except GatewayError as err:
        return _error(_CODEC, err, None)
    except Exception:
        log.exception("counting input tokens failed")
        return _error(_CODEC, InternalError.for_request(None), None)
    return json_response(
        {"object": "response.input_tokens", "input_tokens": count},
        headers={"x-faregate-token-count-source": source},
    )


def add_responses_routes(app: web.Application, gateway: Gateway) -> None:
    """The Responses API routes; stored responses go to the request-log database (in memory
    when the log is off)."""
    log_writer = gateway.services.request_log
    app[STORE] = ResponseStore(log_writer.database if log_writer is not None else None)
    app.router.add_post("/v1/responses", create_response)
    app.router.add_post("/v1/responses/input_tokens", input_tokens)
    # Any id but ``input_tokens``, whose path is the POST above (so its Allow says only POST).
    one = app.router.add_resource(r"/v1/responses/{id:(?!input_tokens$)[^/]+}")
    one.add_route("GET", get_response)
    one.add_route("DELETE", delete_response)
