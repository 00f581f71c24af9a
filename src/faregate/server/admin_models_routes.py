"""Models and provider credentials at run time, under the admin API (master key only).

    GET    /admin/models                 the runtime models (secrets by name only) and the config file's names
    POST   /admin/models                 one entry exactly as in the config file's `models:` list -> 201
    GET    /admin/models/{name}
    PATCH  /admin/models/{name}          fields to change (merged into the stored entry, validated again)
    DELETE /admin/models/{name}
    GET/POST /admin/providers, GET/PATCH/DELETE /admin/providers/{name}
                                         {name, provider?, base_url?, api_key?, headers?}: what
                                         `credentials: <name>` in a model entry refers to
    GET    /admin/audit[?limit=N]        who changed what, when (never a secret)

A change is validated exactly as the config file is (the same pydantic models, the same
cross-checks, the catalogue's unit check), stored, and swapped in on this replica before the
answer; other replicas follow within their poll interval (``pipeline/runtime_sync.py``). A name
the config file declares is the file's: 409. Secrets (API keys, header values) are write-only.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from ..config import ConfigError, ModelConfig, ProviderCredentials
from ..config.loading import format_errors
from ..core.errors import GatewayError, InvalidRequest, NotFound
from ..pipeline.gateway import Gateway
from ..pipeline.runtime_sync import RuntimeSync
from ..storage.runtime_config import SecretKeyMissing
from .http import GATEWAY, json_response
from .master_key import require_admin

MAX_BODY = 256 * 1024
ACTOR = "master key"  # the admin API accepts only the master key
SCHEMAS: dict[str, type[ModelConfig] | type[ProviderCredentials]] = {
    "model": ModelConfig,
    "provider": ProviderCredentials,
}


class Conflict(InvalidRequest):
    status = 409
    code = "conflict"


class Unavailable(GatewayError):
    status = 503
    code = "runtime_config_unavailable"


def _sync(request: web.Request) -> tuple[Gateway, RuntimeSync]:
    gw = request.app[GATEWAY]
    require_admin(gw, request)
    sync = gw.services.runtime_sync
    if sync is None or sync.store is None:
        raise Unavailable(
            "Runtime models need the request-log database (`database_url`) and `runtime_config.enabled: true`."
        )
    return gw, sync


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise InvalidRequest(f"The body is over {MAX_BODY} bytes.")
    try:
        data = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body must be a JSON object (one entry as in the config file).") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object (one entry as in the config file).")
    return data


def _validated(kind: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as the config file would have it, or 400 naming each bad field."""
    try:
        SCHEMAS[kind].model_validate(entry)
    except ValidationError as exc:
        raise InvalidRequest(format_errors(exc).replace("invalid configuration", f"invalid {kind}")) from None
    return entry


async def _commit(
    gw: Gateway, sync: RuntimeSync, kind: str, name: str, entry: dict[str, Any] | None, action: str
) -> None:
    """Check the whole config the change makes, store it, and swap it in here."""
    store = sync.store
    assert store is not None
    models, providers = await store.entries("model"), await store.entries("provider")
    target = models if kind == "model" else providers
    if entry is None:
        target.pop(name, None)
    else:
        target[name] = entry
    try:
        await sync.merged(models, providers)
    except ConfigError as exc:
        raise Conflict(f"The change makes an invalid configuration: {exc}") from None
    try:
        if entry is None:
            await store.delete(kind, name, actor=ACTOR)
        else:
            await store.put(kind, name, entry, actor=ACTOR, action=action)
    except SecretKeyMissing as exc:
        raise Conflict(str(exc)) from None
    await sync.refresh()


async def _public(sync: RuntimeSync, kind: str, name: str) -> dict[str, Any]:
    assert sync.store is not None
    for e in await sync.store.public(kind):
        if e["name"] == name:
            return e
    raise NotFound(f"No runtime {kind} named {name!r}.")


def _routes(kind: str) -> tuple[Any, Any, Any, Any, Any]:
    async def list_(request: web.Request) -> web.Response:
        gw, sync = _sync(request)
        assert sync.store is not None
        out: dict[str, Any] = {"data": await sync.store.public(kind)}
        if kind == "model":
            out["config_models"] = [m.name for m in sync.base.models]
        return json_response(out)

    async def create(request: web.Request) -> web.Response:
        gw, sync = _sync(request)
        entry = _validated(kind, await _body(request))
        name = entry.get("name") or entry.get("model")
        assert sync.store is not None and isinstance(name, str)
        if kind == "model" and any(m.name == name for m in sync.base.models):
            raise Conflict(f"Model {name!r} is declared in the config file, which stays its source; pick another name.")
        if name in await sync.store.entries(kind):
            raise Conflict(f"A runtime {kind} named {name!r} exists; PATCH /admin/{kind}s/{name} changes it.")
        await _commit(gw, sync, kind, name, {**entry, "name": name}, "create")
        return json_response(await _public(sync, kind, name), status=201)

    async def get(request: web.Request) -> web.Response:
        _gw, sync = _sync(request)
        return json_response(await _public(sync, kind, request.match_info["name"]))

    async def patch(request: web.Request) -> web.Response:
        gw, sync = _sync(request)
        name = request.match_info["name"]
        assert sync.store is not None
        stored = (await sync.store.entries(kind)).get(name)
        if stored is None:
            raise NotFound(f"No runtime {kind} named {name!r}.")
        entry = _validated(kind, {**stored, **(await _body(request)), "name": name})
        await _commit(gw, sync, kind, name, entry, "update")
        return json_response(await _public(sync, kind, name))

    async def delete(request: web.Request) -> web.Response:
        gw, sync = _sync(request)
        name = request.match_info["name"]
        assert sync.store is not None
        if name not in await sync.store.entries(kind):
            raise NotFound(f"No runtime {kind} named {name!r}.")
        await _commit(gw, sync, kind, name, None, "delete")
        return json_response({"deleted": name})

    return list_, create, get, patch, delete


async def audit(request: web.Request) -> web.Response:
    _gw, sync = _sync(request)
    assert sync.store is not None
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        raise InvalidRequest("limit must be an integer (1-1000).", param="limit") from None
    return json_response({"data": await sync.store.audit(limit)})


def add_admin_models_routes(app: web.Application, gateway: Gateway) -> None:
    for kind in ("model", "provider"):
        list_, create, get, patch, delete = _routes(kind)
        base = f"/admin/{kind}s"
        app.router.add_get(base, list_)
        app.router.add_post(base, create)
        app.router.add_get(base + "/{name}", get)
        app.router.add_patch(base + "/{name}", patch)
        app.router.add_delete(base + "/{name}", delete)
    app.router.add_get("/admin/audit", audit)
