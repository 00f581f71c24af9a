"""``GET /v1/health/deployments``: each deployment's circuit, load, latency and last error.

Admin only: ``Authorization: Bearer <master key>`` (``master_key`` in the config or
``FAREGATE_MASTER_KEY``). Without a master key configured the route always answers 401.

Errors are redacted where they are captured (``DeploymentHealth.on_failure``); the texts shown
here pass the snapshot's redactor once more, because the active prober records its own errors
outside a request, and an admin page reaches dashboards and logs.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from ..core.redact import Redactor
from ..endpoints.deployments import Deployment
from ..pipeline.gateway import Gateway
from .http import GATEWAY, json_response
from .master_key import require_master_key

HEALTH_UNSET = (
    "This admin route needs a master key: set `master_key` in the config "
    "or FAREGATE_MASTER_KEY, and send `Authorization: Bearer <master key>`."
)
HEALTH_REFUSED = "This admin route needs `Authorization: Bearer <master key>`."


def _public_url(url: str) -> str:
    """The base URL without user info or query (where a credential could hide)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def deployment_status(dep: Deployment, now: float | None = None, redactor: Redactor | None = None) -> dict:
    now = time.monotonic() if now is None else now
    redact = redactor or Redactor()
    br = dep.breaker
    snap = br.snapshot() if br is not None else None
    if snap is not None:
        snap["last_failure"] = redact(snap["last_failure"])
    probe = dep.last_probe
    if isinstance(probe, dict) and probe.get("error"):
        probe = {**probe, "error": redact(str(probe["error"]))}
    return {
        "deployment": dep.id,
        "model": dep.target.model_name,
        "provider": dep.target.provider,
        "upstream_model": dep.target.upstream_model,
        "base_url": _public_url(dep.target.base_url),
        "state": snap["state"] if snap else "closed",
        "breaker": snap,
        "in_flight": dep.in_flight,
        "latency_ms": round(dep.ttft_ewma_ms, 2) if dep.ttft_ewma_ms is not None else None,
        "cooldown_s": round(max(0.0, dep.cooldown_until - now), 3),
        "successes": dep.successes,
        "failures": dep.failures,
        "last_error": redact(dep.last_error),
        "last_error_kind": dep.last_error_kind,
        "last_error_at": dep.last_error_at,
        "last_probe": probe,
    }


async def deployments_health(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    require_master_key(gw, request, unset=HEALTH_UNSET, refused=HEALTH_REFUSED)
    now = time.monotonic()
    redactor = gw.runtime.redactor
    data = [deployment_status(d, now, redactor) for d in gw.registry.all()]
    return json_response({"object": "list", "data": data})


def add_health_routes(app: web.Application, gateway: Gateway) -> None:
    app.router.add_get("/v1/health/deployments", deployments_health)
