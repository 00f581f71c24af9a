"""The response cache's management routes (master key only).

GET    /v1/cache/stats[?by=model,key]   per layer and overall: entries, bytes, hits, semantic
                                        hits, misses, hit rate, coalesced requests, dollars saved
DELETE /v1/cache[?scope=&model=&key=&request_id=]
                                        what matches every filter given (none: everything);
                                        ``scope`` is ``team:<name>``, ``key:<id>`` or ``global``
"""

from __future__ import annotations

from aiohttp import web

from ..cache.keys import model_hash, scope_hash
from ..cache.layer import Selector
from ..cache.service import CacheService
from ..core.errors import InvalidRequest, NotFound
from .http import GATEWAY, json_response
from .master_key import require_admin

DELETE_FILTERS = ("scope", "model", "key", "request_id")


def _service(request: web.Request) -> CacheService:
    gw = request.app[GATEWAY]
    require_admin(gw, request)
    svc = gw.services.cache
    if svc is None:
        raise NotFound("The response cache is off: set `cache: {enabled: true}` in the config.")
    return svc


async def cache_stats(request: web.Request) -> web.Response:
    svc = _service(request)
    by = {b.strip() for b in request.query.get("by", "").split(",") if b.strip()}
    if by - {"model", "key"}:
        raise InvalidRequest(f"by: unknown breakdown(s) {sorted(by - {'model', 'key'})}; use model, key or both.")
    return json_response(await svc.stats(by_model="model" in by, by_key="key" in by))


async def cache_delete(request: web.Request) -> web.Response:
    svc = _service(request)
    unknown = sorted(set(request.query) - set(DELETE_FILTERS))
    if unknown:
        raise InvalidRequest(f"unknown filter(s) {unknown}; valid: {', '.join(DELETE_FILTERS)}.")
    q = request.query
    sel = Selector(
        scope_hash=scope_hash(q["scope"]) if q.get("scope") else None,
        model_hash=model_hash(q["model"]) if q.get("model") else None,
        key=q.get("key") or None,
        request_id=q.get("request_id") or None,
    )
    removed = await svc.delete(sel)
    return json_response({"deleted": removed, "filters": {k: q[k] for k in DELETE_FILTERS if q.get(k)}})


def add_cache_routes(app: web.Application, gateway: object) -> None:
    app.router.add_get("/v1/cache/stats", cache_stats)
    app.router.add_delete("/v1/cache", cache_delete)
