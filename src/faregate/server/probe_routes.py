"""Kubernetes-style probes: ``GET /health/live`` and ``GET /health/ready`` (public).

Live: the process answers. Ready: 200 when the gateway can serve, 503 with the reasons when
the request-log database is unreachable, when Redis is unreachable and required
(``limits.redis_failure_policy: closed``), or when models are configured and not one of
their deployments is healthy (every breaker open or cooling down).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from ..pipeline.gateway import Gateway
from ..storage.db import Database
from .http import GATEWAY, json_response

PROBE_TIMEOUT_S = 2.0


async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _database_ok(gw: Gateway) -> str | None:
    writer = gw.services.request_log
    if writer is None:
        return None
    db = writer.db
    if db is not None:
        try:
            await asyncio.wait_for(db.fetchval("SELECT 1"), PROBE_TIMEOUT_S)
            return None
        except Exception:  # noqa: BLE001 - the writer's pool may be stale: try a fresh connection
            pass
    fresh: Database | None = None
    try:
        fresh = await asyncio.wait_for(Database.open(writer.url), PROBE_TIMEOUT_S)
        await asyncio.wait_for(fresh.fetchval("SELECT 1"), PROBE_TIMEOUT_S)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"request log database unreachable ({type(exc).__name__})"
    finally:
        if fresh is not None:
            await fresh.close()


async def _redis_ok(gw: Gateway) -> str | None:
    cfg = gw.config
    if not cfg.redis_url or cfg.limits.redis_failure_policy != "closed":
        return None
    import redis.asyncio as aioredis

    client = aioredis.from_url(cfg.redis_url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
    try:
        await asyncio.wait_for(client.ping(), PROBE_TIMEOUT_S)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"redis unreachable and required by limits.redis_failure_policy: closed ({type(exc).__name__})"
    finally:
        await client.aclose()


def _deployments_ok(gw: Gateway) -> str | None:
    deps = gw.registry.all()
    if not deps:
        return None
    now = time.monotonic()
    for d in deps:
        br = d.breaker
        state = getattr(br, "state", "closed") if br is not None else "closed"
        if state != "open" and not d.cooling(now):
            return None
    return f"no healthy deployment: all {len(deps)} are open or cooling down"


class Drain:
    """Set by ``faregate serve`` on SIGTERM: readiness fails from then on, so a load balancer or
    Kubernetes stops sending new work while the requests in flight finish."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False


DRAIN = web.AppKey("faregate_drain", Drain)


async def ready(request: web.Request) -> web.Response:
    drain = request.app.get(DRAIN)
    if drain is not None and drain.draining:
        return json_response({"status": "not_ready", "reasons": ["draining: shutting down (SIGTERM)"]}, status=503)
    gw = request.app[GATEWAY]
    db, redis = await asyncio.gather(_database_ok(gw), _redis_ok(gw))
    reasons: list[Any] = [r for r in (db, redis, _deployments_ok(gw)) if r]
    if reasons:
        return json_response({"status": "not_ready", "reasons": reasons}, status=503)
    return json_response({"status": "ready"})


def add_probe_routes(app: web.Application, gateway: Gateway) -> None:
    app[DRAIN] = Drain()
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
