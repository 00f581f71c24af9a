"""``GET /metrics``: the Prometheus text format, on the main port or on ``metrics.port``.

Public by default (like most exporters); ``metrics.require_master_key: true`` asks for
``Authorization: Bearer <master key>``. With ``metrics.port`` set, the main port does not
serve it; a second listener (same host) does, started and stopped with the app.
"""

from __future__ import annotations

from aiohttp import web

from ..observability.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from ..pipeline.gateway import Gateway
from .master_key import require_master_key

METRICS_UNSET = "metrics.require_master_key is on but no master key is configured (master_key)."
METRICS_REFUSED = "GET /metrics needs `Authorization: Bearer <master key>` (metrics.require_master_key)."
METRICS_SITE = web.AppKey("faregate_metrics_site", dict)


def metrics_handler(gw: Gateway, metrics: GatewayMetrics):
    async def handler(request: web.Request) -> web.Response:
        if gw.config.metrics.require_master_key:
            require_master_key(gw, request, unset=METRICS_UNSET, refused=METRICS_REFUSED)
        return web.Response(body=metrics.render(), headers={"content-type": CONTENT_TYPE_LATEST})

    return handler


def add_metrics_routes(app: web.Application, gateway: Gateway) -> None:
    metrics = gateway.services.metrics
    if metrics is None:
        return
    handler = metrics_handler(gateway, metrics)
    port = gateway.config.metrics.port
    if port is None:
        app.router.add_get("/metrics", handler)
        return
    state: dict = {}
    app[METRICS_SITE] = state

    async def start_site(_app: web.Application) -> None:
        side = web.Application()
        side.router.add_get("/metrics", handler)
        runner = web.AppRunner(side, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, gateway.config.server.host, port)
        await site.start()
        state["runner"] = runner
        state["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop_site(_app: web.Application) -> None:
        runner = state.pop("runner", None)
        if runner is not None:
            await runner.cleanup()

    app.on_startup.append(start_site)
    app.on_cleanup.append(stop_site)
