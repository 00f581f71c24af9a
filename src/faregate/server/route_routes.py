"""``POST /v1/route``: the plan and every candidate's predictions, without calling a model."""

from __future__ import annotations

import logging

from aiohttp import web

from ..core.errors import GatewayError, InternalError, InvalidRequest, ModelNotFound
from ..pipeline.gateway import Gateway
from ..wire.codec import decode_json
from ..wire.openai_front import parse_chat_request
from .batch_plan import tier_open
from .http import GATEWAY, apply_routing_headers, bearer, json_response, read_body
from .request_checks import check_request

log = logging.getLogger("faregate")


async def route_dry_run(request: web.Request) -> web.Response:
    try:
        return await _dry_run(request)
    except GatewayError:
        raise  # the app's middleware answers it in OpenAI's envelope
    except Exception:
        log.exception("unexpected error in POST /v1/route")
        raise InternalError.for_request(None) from None


async def _dry_run(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    principal = await gw.authenticate(bearer(request))
    raw = await read_body(request, gw.config.server.max_body_bytes)
    body = decode_json(raw)
    if isinstance(body, dict):
        body.setdefault("model", "auto")
    req = parse_chat_request(body, gw.config.bounds.input_bounds())
    apply_routing_headers(req, request)
    check_request(req, gw.config)
    if req.routing:  # cache control is the cache step's (checked above); a plan never reads the cache
        req.routing.pop("cache", None)
    routing = gw.runtime.routing
    if (routing is None or req.model not in routing.routes) and gw.config.model(req.model) is None:
        raise ModelNotFound(
            f"No route or model is called {req.model!r}; use 'auto' or one of "
            f"{sorted(routing.routes) if routing else []}.",
            param="model",
        )
    if routing is None or req.model not in routing.routes:
        raise InvalidRequest(
            f"'{req.model}' is not a route; use 'auto' or one of {sorted(routing.routes) if routing else []}.",
            param="model",
        )
    ctx = gw.context(req, principal=principal)
    # A deadline shows the batch candidates where the chat front would defer the request.
    plan = routing.plan(ctx, req.model, batch_ok=tier_open(routing, req.model))
    return json_response({"request_id": ctx.request_id, **plan.as_dict()})


def add_route_routes(app: web.Application, gateway: Gateway) -> None:
    app.router.add_post("/v1/route", route_dry_run)
