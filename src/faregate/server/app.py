"""The HTTP server: a thin aiohttp layer over a ``Gateway``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from aiohttp import web

from ..core.errors import GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from ..pipeline.context import RequestContext
from ..pipeline.gateway import Gateway
from ..wire.openai_front import ChunkRenderer, decode_json, parse_chat_request, render_response

log = logging.getLogger("faregate")
GATEWAY = web.AppKey("gateway", Gateway)

# Functions that add more routes (admin, analytics, feedback, routing dry runs): each takes
# (app, gateway). Listed here so the route inventory stays in one place.
RouteAdder = Callable[[web.Application, Gateway], None]


def json_response(data, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def error_response(err: GatewayError) -> web.Response:
    return json_response(err.envelope(), status=err.status, headers=err.headers or None)


def bearer(request: web.Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    return request.headers.get("x-api-key") or None


@web.middleware
async def errors_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GatewayError as err:
        return error_response(err)
    except web.HTTPRequestEntityTooLarge:
        return error_response(
            PayloadTooLarge(
                f"The request body is over the limit of {request.app[GATEWAY].config.server.max_body_bytes} bytes "
                f"(server.max_body_bytes)."
            )
        )
    except web.HTTPNotFound:
        return error_response(
            NotFound(f"No route {request.method} {request.path}. See GET /v1/models and POST /v1/chat/completions.")
        )
    except web.HTTPMethodNotAllowed as exc:
        err = InvalidRequest(
            f"Method {request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}."
        )
        err.status, err.code = 405, "method_not_allowed"
        return error_response(err)


def response_headers(ctx: RequestContext, *, with_cost: bool) -> dict[str, str]:
    h = {"x-request-id": ctx.request_id, "x-faregate-attempts": str(len(ctx.attempts))}
    if ctx.answered_model:
        h["x-faregate-model"] = ctx.answered_model
        h["x-faregate-deployment"] = ctx.answered_by or ""
    if ctx.fallback_used:
        h["x-faregate-fallback"] = ctx.answered_model or "true"
    if with_cost:
        h["x-faregate-cost-usd"] = f"{ctx.cost_usd:.10f}".rstrip("0").rstrip(".") or "0"
    h.update(ctx.response_headers)
    return h


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


async def chat_completions(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    # Authenticate before reading the body: an unknown caller learns nothing about validation.
    credential = bearer(request)
    principal = gw.known_principal(credential) or await gw.authenticate(credential)
    raw = await read_body(request, gw.config.server.max_body_bytes)
    req = parse_chat_request(decode_json(raw))
    ctx = gw.context(req, principal=principal)
    apply_routing_headers(req, request)
    try:
        reply = await gw.handle(ctx)
    except GatewayError as err:
        # An error is explained too: attempts made, cost of what was consumed.
        err.headers = {**response_headers(ctx, with_cost=True), **err.headers}
        raise
    model_name = ctx.answered_model or req.model
    if reply.response is not None:
        return web.Response(
            body=render_response(reply.response, request_id=ctx.request_id, model=model_name, cost_usd=ctx.cost_usd),
            content_type="application/json",
            headers=response_headers(ctx, with_cost=True),
        )
    return await stream_reply(request, ctx, reply.events, OpenAIStreamCodec(ctx, model_name))


def apply_routing_headers(req, request: web.Request) -> None:
    """Routing constraints may come as headers; the body's ``faregate`` object wins."""
    hdr = {}
    for name, key in (
        ("x-faregate-min-quality", "min_quality"),
        ("x-faregate-max-latency-ms", "max_latency_ms"),
        ("x-faregate-max-cost-usd", "max_cost_usd"),
        ("x-faregate-task", "task"),
    ):
        v = request.headers.get(name)
        if v is not None:
            if key != "task":
                try:
                    hdr[key] = float(v)
                except ValueError:
                    raise InvalidRequest(f"Header {name} must be a number, got {v[:40]!r}.", param=name) from None
            else:
                hdr[key] = v
    if hdr:
        req.routing = {**hdr, **(req.routing or {})}


class StreamCodec:
    """How one front writes a stream: bytes for an event, for the end, and for an in-band error."""

    def render(self, ev) -> bytes: ...
    def end(self, ctx: RequestContext) -> bytes: ...
    def error(self, err: GatewayError) -> bytes: ...


class OpenAIStreamCodec(StreamCodec):
    def __init__(self, ctx: RequestContext, model_name: str) -> None:
        self._r = ChunkRenderer(request_id=ctx.request_id, model=model_name, include_usage=ctx.request.include_usage)
        self.render = self._r.render

    def end(self, ctx: RequestContext) -> bytes:
        return self._r.end(ctx.cost_usd)

    def error(self, err: GatewayError) -> bytes:
        return ChunkRenderer.error(err.envelope())


async def stream_reply(request: web.Request, ctx: RequestContext, events, codec: StreamCodec) -> web.StreamResponse:
    headers = response_headers(ctx, with_cost=False)
    headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
    resp = web.StreamResponse(status=200, headers=headers)
    try:
        # Inside the try: a client gone before the headers are written still closes the upstream.
        await resp.prepare(request)
        async for ev in events:
            data = codec.render(ev)
            if data:
                await resp.write(data)
        await resp.write(codec.end(ctx))
    except GatewayError as err:
        # Bytes already reached the client: no failover now, an in-band error instead.
        await resp.write(codec.error(err))
    except (ConnectionResetError, ConnectionError):
        ctx.client_disconnected = True
    finally:
        await events.aclose()
    return resp


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    created = 0
    data = [{"id": m.name, "object": "model", "created": created, "owned_by": m.provider} for m in gw.config.models]
    data += [{"id": r, "object": "model", "created": created, "owned_by": "faregate"} for r in gw.route_names()]
    return json_response({"object": "list", "data": data})


async def models_auth(request: web.Request) -> web.Response:
    """``GET /v1/models`` requires the same gateway key as chat (when keys are configured)."""
    gw = request.app[GATEWAY]
    await gw.authenticate(bearer(request))
    return await list_models(request)


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


def create_app(
    gateway: Gateway, *, manage_lifecycle: bool = True, extra_routes: list[RouteAdder] | None = None
) -> web.Application:
    from .http_hardening import install as harden_http_errors

    harden_http_errors()  # aiohttp's own 400 page would echo a malformed Authorization header
    app = web.Application(middlewares=[errors_middleware], client_max_size=gateway.config.server.max_body_bytes)
    app[GATEWAY] = gateway
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models_auth)
    app.router.add_get("/health", health)
    for add in extra_routes if extra_routes is not None else default_route_adders():
        add(app, gateway)
    if manage_lifecycle:

        async def on_startup(_app: web.Application) -> None:
            await gateway.start()

        async def on_cleanup(_app: web.Application) -> None:
            await gateway.close()

        app.on_startup.append(on_startup)
        app.on_cleanup.append(on_cleanup)
    return app


def default_route_adders() -> list[RouteAdder]:
    """Every optional route group (the route-inventory test walks what these add)."""
    from .admin_routes import add_admin_routes  # issue 6: /admin/... on the master key only
    from .analytics_routes import add_analytics_routes  # issue 5: analytics summary, feedback
    from .anthropic_routes import add_anthropic_routes
    from .health_routes import add_health_routes
    from .route_routes import add_route_routes

    return [add_anthropic_routes, add_route_routes, add_health_routes, add_admin_routes, add_analytics_routes]


# Public paths that need no key; the route-inventory test checks every other route requires one.
PUBLIC_PATHS = frozenset({"/health"})
