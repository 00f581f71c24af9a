"""The app factory: a thin aiohttp layer over a ``Gateway``.

``create_app`` builds the Application (error middleware, body cap, lifecycle hooks) and holds
the route inventory; the routes themselves live in their own modules, which share
``server.http`` and never import this one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..core.errors import GatewayError, InternalError, InvalidRequest, NotFound, PayloadTooLarge
from ..dashboard.mount import add_dashboard_routes
from ..pipeline.gateway import Gateway
from ..wire.anthropic_front import AnthropicCodec
from ..wire.openai_front import OpenAIChatCodec
from .admin_experiments_routes import add_admin_experiments_routes
from .admin_models_routes import add_admin_models_routes
from .admin_routes import add_admin_routes
from .alerts_routes import add_alerts_routes
from .analytics_routes import add_analytics_routes
from .batch_plan import add_batch_plan, defer_to_batch
from .batch_routes import add_batch_routes
from .cache_routes import add_cache_routes
from .front_handler import add_front
from .fronts_routes import add_fronts_routes
from .health_routes import add_health_routes
from .http import GATEWAY, bearer, error_response, json_response
from .http_hardening import install as harden_http_errors
from .metrics_routes import add_metrics_routes
from .openapi import OPENAPI_PATH, add_openapi_routes
from .probe_routes import add_probe_routes
from .responses_routes import add_responses_routes
from .route_routes import add_route_routes

__all__ = ["GATEWAY", "PUBLIC_PATHS", "RouteAdder", "create_app", "default_route_adders"]

log = logging.getLogger("faregate")

# Functions that add more routes (admin, analytics, feedback, routing dry runs): each takes
# (app, gateway). Listed here so the route inventory stays in one place.
RouteAdder = Callable[[web.Application, Gateway], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Public paths that need no key; the route-inventory test checks every other route requires one.
PUBLIC_PATHS = frozenset({"/health", "/health/live", "/health/ready", "/metrics", OPENAPI_PATH})


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
        refusal = InvalidRequest(
            f"Method {request.method} is not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}."
        )
        refusal.status, refusal.code = 405, "method_not_allowed"
        resp = error_response(refusal)
        resp.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return resp
    except web.HTTPException:
        raise  # aiohttp's own answers (redirects, 4xx it built): as they are
    except Exception:
        # A fault no handler expected: OpenAI's envelope, the traceback in the log, never in the answer.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(InternalError("The gateway hit an unexpected error; it is logged. Retry shortly."))


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


def add_anthropic_routes(app: web.Application, gateway: Gateway) -> None:
    """``POST /v1/messages``: the Anthropic Messages API in front of the same pipeline."""
    add_front(app, "/v1/messages", AnthropicCodec())


def replica_id(configured: str) -> str:
    """``server.replica_id`` (``FAREGATE_REPLICA_ID``), else hostname-pid: unique per process."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


def add_replica_header(app: web.Application, configured: str) -> None:
    """Every response says which replica answered (``x-faregate-replica``), so a client behind a
    load balancer can see the balancing and a log line can be matched to a replica."""
    rid = replica_id(configured)

    async def stamp(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["x-faregate-replica"] = rid

    app.on_response_prepare.append(stamp)


def create_app(
    gateway: Gateway, *, manage_lifecycle: bool = True, extra_routes: list[RouteAdder] | None = None
) -> web.Application:
    harden_http_errors()  # aiohttp's own 400 page would echo a malformed Authorization header
    app = web.Application(middlewares=[errors_middleware], client_max_size=gateway.config.server.max_body_bytes)
    app[GATEWAY] = gateway
    add_front(app, "/v1/chat/completions", OpenAIChatCodec(), defer=defer_to_batch)
    app.router.add_get("/v1/models", models_auth)
    app.router.add_get("/health", health)
    add_replica_header(app, gateway.config.server.replica_id)
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
    return [
        add_anthropic_routes,
        add_route_routes,
        add_health_routes,
        add_admin_routes,
        add_analytics_routes,
        add_admin_models_routes,
        add_admin_experiments_routes,
        add_openapi_routes,
        add_metrics_routes,
        add_probe_routes,
        add_alerts_routes,
        add_cache_routes,
        add_fronts_routes,
        add_responses_routes,
        add_dashboard_routes,
        add_batch_routes,
        add_batch_plan,  # after add_batch_routes: deferred requests are batch jobs
    ]
