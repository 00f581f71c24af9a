"""The admin API under ``/admin/``: keys, teams, limits, usage, resets.

Authenticated ONLY by the master key (``master_key`` / ``FAREGATE_MASTER_KEY``) as
``Authorization: Bearer <master key>``; a gateway key, however privileged its limits, gets 401,
and without a master key configured every admin route answers 401. Each operation names the
body fields it accepts and refuses any other (400 naming them): no mass assignment of ``id``,
``key_hash``, ``revoked_at``, ``is_admin``, ``role`` or anything else. There is no data-plane
route that changes a key, so no caller can raise its own limits, budget, models or role.

    GET    /admin/keys[?team=T]        list (never a key or its hash)
    POST   /admin/keys                 {name, team?, models?, limits?, expires_at?|expires_in_s?, idempotent?, mode?, guardrails?} -> {key, ...}
    GET    /admin/keys/{id}
    PATCH  /admin/keys/{id}            {name?, team?, models?, limits?, expires_at?, idempotent?, mode?, guardrails?}
    POST   /admin/keys/{id}/revoke
    POST   /admin/keys/{id}/rotate     -> {key, ...} (same id, limits and counters; the old key stops)
    GET    /admin/teams                PUT/GET/DELETE /admin/teams/{name}  {models?, limits?}
    GET    /admin/limits               the configured defaults, per-team and per-model limits
    GET    /admin/usage?key=ID|team=T|model=M   current usage of every counter of that scope
    POST   /admin/resets               {key?|team?|model?} clears that scope's counters
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..core.errors import InvalidRequest, NotFound
from ..keys.store import KeyStore
from ..limits.base import USD, LimitStore
from ..pipeline.gateway import Gateway
from ..pipeline.limits_step import limits_of, merged
from .admin_input import expires_at_field, flag, guardrails_field, limits_field, mode_field, opt_str
from .http import GATEWAY, json_response
from .master_key import require_admin

ADMIN_STATE = web.AppKey("faregate_admin", dict)
MAX_ADMIN_BODY = 64 * 1024

KEY_UPDATE_FIELDS = frozenset({"name", "team", "models", "limits", "expires_at", "idempotent", "mode", "guardrails"})
KEY_CREATE_FIELDS = KEY_UPDATE_FIELDS | {"expires_in_s"}
TEAM_FIELDS = frozenset({"models", "limits"})
RESET_FIELDS = frozenset({"key", "team", "model"})


async def _body(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    raw = await request.content.read(MAX_ADMIN_BODY + 1)
    if len(raw) > MAX_ADMIN_BODY:
        raise InvalidRequest("The admin request body is too large.")
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    extra = sorted(set(data) - allowed)
    if extra:
        raise InvalidRequest(
            f"Field(s) not accepted here: {', '.join(repr(e[:40]) for e in extra[:10])}; "
            f"allowed: {', '.join(sorted(allowed))}."
        )
    return data


class _Admin:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        services = gw.services
        self.resolver = services.auth.resolver
        store = services.auth.store
        self._own_keys = store is None
        self.keys: KeyStore = store or KeyStore(gw.config.database_url)
        self.limits: LimitStore = services.limit_store

    async def store(self) -> KeyStore:
        return await self.keys.open()

    def invalidate(self) -> None:
        if self.resolver is not None:
            self.resolver.invalidate()

    async def close(self) -> None:
        if self._own_keys:
            await self.keys.close()


def _admin(request: web.Request) -> _Admin:
    gw = request.app[GATEWAY]
    require_admin(gw, request)
    state = request.app[ADMIN_STATE]
    if "admin" not in state:
        state["admin"] = _Admin(gw)
    return state["admin"]


def _value_error(exc: ValueError) -> InvalidRequest:
    return InvalidRequest(str(exc).splitlines()[0][:300])


# -- keys ------------------------------------------------------------------------------------


async def list_keys(request: web.Request) -> web.Response:
    adm = _admin(request)
    team = request.query.get("team")
    recs = await (await adm.store()).list_keys(team=team)
    return json_response({"object": "list", "data": [r.public() for r in recs]})


async def create_key(request: web.Request) -> web.Response:
    adm = _admin(request)
    data = await _body(request, KEY_CREATE_FIELDS)
    name = opt_str(data, "name")
    if not name:
        raise InvalidRequest("name is required.", param="name")
    expires_at = expires_at_field(data)
    try:
        raw, rec = await (await adm.store()).create_key(
            name,
            team=opt_str(data, "team"),
            models=data.get("models"),
            limits=limits_field(data.get("limits")),
            expires_at=expires_at,
            idempotent=flag(data, "idempotent") is not False,
            mode=mode_field(data),
            guardrails=guardrails_field(data, {g.name for g in adm.gw.config.guardrails}),
        )
    except ValueError as exc:
        raise _value_error(exc) from None
    adm.invalidate()  # the first key closes an open gateway at once on this replica
    return json_response({"key": raw, **rec.public()}, status=201)


async def get_key(request: web.Request) -> web.Response:
    adm = _admin(request)
    rec = await (await adm.store()).get_key(request.match_info["id"])
    if rec is None:
        raise NotFound("No such key id.")
    return json_response(rec.public())


async def update_key(request: web.Request) -> web.Response:
    adm = _admin(request)
    data = await _body(request, KEY_UPDATE_FIELDS)
    kw: dict[str, Any] = {}
    if "name" in data:
        kw["name"] = opt_str(data, "name")
    if "team" in data:
        kw["team"] = opt_str(data, "team")
    if "models" in data:
        kw["models"] = data["models"]
    if "limits" in data:
        kw["limits"] = limits_field(data["limits"] if data["limits"] is not None else "null")
    if "expires_at" in data:
        kw["expires_at"] = expires_at_field({"expires_at": data["expires_at"]})
    kw["idempotent"] = flag(data, "idempotent")
    if "mode" in data:
        kw["mode"] = mode_field(data)
    if "guardrails" in data:
        kw["guardrails"] = guardrails_field(data, {g.name for g in adm.gw.config.guardrails})
    try:
        rec = await (await adm.store()).update_key(request.match_info["id"], **kw)
    except ValueError as exc:
        raise _value_error(exc) from None
    if rec is None:
        raise NotFound("No such key id.")
    adm.invalidate()
    return json_response(rec.public())


async def revoke_key(request: web.Request) -> web.Response:
    adm = _admin(request)
    await _body(request, frozenset())
    store = await adm.store()
    if not await store.revoke_key(request.match_info["id"]):
        raise NotFound("No such active key id.")
    adm.invalidate()
    rec = await store.get_key(request.match_info["id"])
    return json_response(rec.public() if rec else {})


async def rotate_key(request: web.Request) -> web.Response:
    adm = _admin(request)
    await _body(request, frozenset())
    out = await (await adm.store()).rotate_key(request.match_info["id"])
    if out is None:
        raise NotFound("No such active key id.")
    adm.invalidate()
    raw, rec = out
    return json_response({"key": raw, **rec.public()})


# -- teams -----------------------------------------------------------------------------------


async def list_teams(request: web.Request) -> web.Response:
    adm = _admin(request)
    return json_response({"object": "list", "data": [t.public() for t in await (await adm.store()).list_teams()]})


async def get_team(request: web.Request) -> web.Response:
    adm = _admin(request)
    t = await (await adm.store()).get_team(request.match_info["name"])
    if t is None:
        raise NotFound("No such team.")
    return json_response(t.public())


async def put_team(request: web.Request) -> web.Response:
    adm = _admin(request)
    data = await _body(request, TEAM_FIELDS)
    kw: dict[str, Any] = {}
    if "models" in data:
        kw["models"] = data["models"]
    if "limits" in data:
        kw["limits"] = limits_field(data["limits"] if data["limits"] is not None else "null")
    try:
        t = await (await adm.store()).upsert_team(request.match_info["name"], **kw)
    except ValueError as exc:
        raise _value_error(exc) from None
    adm.invalidate()
    return json_response(t.public())


async def delete_team(request: web.Request) -> web.Response:
    adm = _admin(request)
    if not await (await adm.store()).delete_team(request.match_info["name"]):
        raise NotFound("No such team.")
    adm.invalidate()
    return json_response({"deleted": request.match_info["name"]})


# -- limits, usage, resets ---------------------------------------------------------------------


async def get_limits(request: web.Request) -> web.Response:
    adm = _admin(request)
    cfg = adm.gw.config.limits
    return json_response(
        {
            "backend": "redis" if adm.gw.config.redis_url else "memory",
            "redis_failure_policy": cfg.redis_failure_policy,
            "key_defaults": cfg.keys.model_dump(exclude_none=True),
            "teams": {k: v.model_dump(exclude_none=True) for k, v in cfg.teams.items()},
            "models": {k: v.model_dump(exclude_none=True) for k, v in cfg.models.items()},
            "failures": getattr(adm.limits, "failures", 0),
            "degraded": getattr(adm.limits, "degraded", 0),
            "overload_retries": getattr(adm.limits, "overload_retries", 0),
            "refused": adm.gw.services.limit_stats.refused,
            "soft_budget_alerts": adm.gw.services.limit_stats.soft_alerts,
        }
    )


async def _scope(adm: _Admin, q: Any) -> tuple[str, dict[str, Any]]:
    cfg = adm.gw.config.limits
    given = [f for f in ("key", "team", "model") if q.get(f)]
    if len(given) != 1:
        raise InvalidRequest("Name exactly one of key, team or model.")
    f = given[0]
    v = str(q[f])[:200]
    store = await adm.store()
    if f == "key":
        rec = await store.get_key(v)
        if rec is None:
            cfg_key = next((k for k in getattr(adm.resolver, "_config", {}).values() if k.key_id == v), None)
            if cfg_key is None:
                raise NotFound("No such key id.")
            return f"key:{v}", merged(cfg.keys, cfg_key.limits)  # a key from the YAML config
        return f"key:{v}", merged(cfg.keys, rec.limits)
    if f == "team":
        t = await store.get_team(v)
        return f"team:{v}", merged(cfg.teams.get(v), t.limits if t else None)
    return f"model:{v}", merged(cfg.models.get(v))


async def usage(request: web.Request) -> web.Response:
    adm = _admin(request)
    scope, ls = await _scope(adm, request.query)
    return json_response({"scope": scope, "counters": await counters(adm, scope, ls)})


async def counters(adm: _Admin, scope: str, ls: dict[str, Any]) -> list[dict[str, Any]]:
    """Every counter of a scope with its limit and current use (the dashboard's bars too)."""
    out = []
    for lim in limits_of(scope, scope, ls):
        used = await adm.limits.usage(lim)
        scale = USD if lim.kind == "cost" else 1
        out.append(
            {
                "limit": lim.key.rsplit(":", 1)[-1],
                "kind": lim.kind,
                "hard": lim.hard,
                "max": lim.limit / scale,
                "used": used / scale,
            }
        )
    return out


async def resets(request: web.Request) -> web.Response:
    adm = _admin(request)
    data = await _body(request, RESET_FIELDS)
    scope, _ = await _scope(adm, data)
    n = await adm.limits.reset(scope + ":")
    return json_response({"scope": scope, "cleared": n})


def add_admin_routes(app: web.Application, gateway: Gateway) -> None:
    """Mount the admin API under ``/admin/`` (listed in ``app.default_route_adders``)."""
    from .http_hardening import install

    install()  # aiohttp would echo and log a malformed Authorization header (see http_hardening)
    app[ADMIN_STATE] = {}
    r = app.router
    r.add_get("/admin/keys", list_keys)
    r.add_post("/admin/keys", create_key)
    r.add_get("/admin/keys/{id}", get_key)
    r.add_patch("/admin/keys/{id}", update_key)
    r.add_post("/admin/keys/{id}/revoke", revoke_key)
    r.add_post("/admin/keys/{id}/rotate", rotate_key)
    r.add_get("/admin/teams", list_teams)
    r.add_get("/admin/teams/{name}", get_team)
    r.add_put("/admin/teams/{name}", put_team)
    r.add_delete("/admin/teams/{name}", delete_team)
    r.add_get("/admin/limits", get_limits)
    r.add_get("/admin/usage", usage)
    r.add_post("/admin/resets", resets)

    async def on_cleanup(_app: web.Application) -> None:
        adm = _app[ADMIN_STATE].get("admin")
        if adm is not None:
            await adm.close()

    app.on_cleanup.append(on_cleanup)
