"""Policy experiments under the admin API (master key only), stored like runtime models.

    GET    /admin/experiments                  every experiment in force (file and stored)
    PUT    /admin/experiments/{name}           one entry as in the config file's `experiments:` list
    DELETE /admin/experiments/{name}           the stored entry (the file's, if any, is back in force)
    POST   /admin/experiments/{name}/stop      nobody takes part any more
    POST   /admin/experiments/{name}/promote   {"arm": NAME}: all of the route's traffic to that arm

A change is validated as the config file is, stored in ``runtime_experiments`` (migration 012,
bumping the runtime-config version) and swapped in before the answer; other replicas follow
within their poll interval (``pipeline/runtime_sync.py``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ..config import ConfigError
from ..config.experiments import ExperimentConfig
from ..core.errors import InvalidRequest, NotFound
from ..pipeline.runtime_sync import RuntimeSync
from ..routing.sources import RouterSource
from .admin_models_routes import ACTOR, Conflict, _body, _sync
from .http import json_response


def _current(request: web.Request) -> dict[str, dict[str, Any]]:
    gw, _ = _sync(request)
    return {e.name: e.model_dump(mode="json") for e in gw.config.experiments}


def _checked(entry: dict[str, Any]) -> None:
    """400 for a body of the wrong shape (naming the field); 409 for one that is well formed but
    inconsistent (duplicate arm names, a promoted arm it does not have, a router file that does not load)."""
    try:
        exp = ExperimentConfig.model_validate(entry)
    except ValidationError as exc:
        errors = exc.errors()
        text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'experiment'}: {e['msg']}" for e in errors)
        if all(e["loc"] == () and e["type"] == "value_error" for e in errors):
            raise Conflict(f"The experiment is inconsistent: {text}") from None
        raise InvalidRequest(f"The experiment is invalid: {text}") from None
    for arm in exp.arms:
        if arm.router_model is not None:
            try:
                RouterSource.load(arm.router_model)
            except Exception as exc:  # noqa: BLE001 - missing, not a router file, unreadable: all 409
                raise Conflict(f"Arm {arm.name!r}: router model {arm.router_model!r} does not load ({exc}).") from None


async def _commit(sync: RuntimeSync, name: str, entry: dict[str, Any] | None, action: str) -> None:
    if entry is not None:
        _checked(entry)
    store = sync.store
    assert store is not None
    stored = await store.entries("experiment")
    if entry is None:
        if stored.pop(name, None) is None:
            raise NotFound(f"No stored experiment named {name!r} (one from the config file is changed, not deleted).")
    else:
        stored[name] = {k: v for k, v in entry.items() if k != "name"}
    try:
        await sync.merged(experiments=stored)
    except ConfigError as exc:  # the shape is checked: what is left is models or routes that do not exist
        raise Conflict(f"The experiment does not fit the configuration: {exc}") from None
    if entry is None:
        await store.delete("experiment", name, actor=ACTOR)
    else:
        await store.put("experiment", name, stored[name], actor=ACTOR, action=action)
    await sync.refresh()


async def list_handler(request: web.Request) -> web.Response:
    return json_response({"object": "list", "data": list(_current(request).values())})


async def put_handler(request: web.Request) -> web.Response:
    _, sync = _sync(request)
    name = request.match_info["name"]
    body = await _body(request)
    if body.get("name", name) != name:
        raise Conflict(f"The body names experiment {body['name']!r}, the path {name!r}.")
    await _commit(sync, name, {**body, "name": name}, "put")
    return json_response(_current(request)[name])


async def delete_handler(request: web.Request) -> web.Response:
    _, sync = _sync(request)
    name = request.match_info["name"]
    await _commit(sync, name, None, "delete")
    return json_response({"object": "experiment", "name": name, "deleted": True})


async def _status(request: web.Request, status: str, arm: str | None) -> web.Response:
    _, sync = _sync(request)
    name = request.match_info["name"]
    entry = _current(request).get(name)
    if entry is None:
        raise NotFound(f"No experiment named {name!r}; see GET /admin/experiments.")
    if arm is not None and arm not in {a["name"] for a in entry["arms"]}:
        raise NotFound(f"Experiment {name!r} has no arm {arm!r}; its arms: {[a['name'] for a in entry['arms']]}.")
    await _commit(sync, name, {**entry, "status": status, "promoted_arm": arm}, status)
    return json_response(_current(request)[name])


async def stop_handler(request: web.Request) -> web.Response:
    return await _status(request, "stopped", None)


async def promote_handler(request: web.Request) -> web.Response:
    _sync(request)  # the master key before the body is even read
    arm = (await _body(request)).get("arm")
    if not isinstance(arm, str):
        raise InvalidRequest('The body must name the arm to promote: {"arm": "NAME"}.', param="arm")
    return await _status(request, "promoted", arm)


def add_admin_experiments_routes(app: web.Application, gateway: Any) -> None:
    app.router.add_get("/admin/experiments", list_handler)
    app.router.add_put("/admin/experiments/{name}", put_handler)
    app.router.add_delete("/admin/experiments/{name}", delete_handler)
    app.router.add_post("/admin/experiments/{name}/stop", stop_handler)
    app.router.add_post("/admin/experiments/{name}/promote", promote_handler)
