"""The alert API under ``/admin/alerts`` (master key only, like the rest of the admin API).

    POST   /admin/alerts/channels              {id, type, url?, secret?, smtp_host?, ...} -> the channel
    GET    /admin/alerts/channels              every channel (secrets and passwords never returned)
    DELETE /admin/alerts/channels/{id}
    POST   /admin/alerts/channels/{id}/test    send a test message now
    POST   /admin/alerts/rules                 {id, kind, threshold?, period?, scope?, value?, ...}
    GET    /admin/alerts/rules                 DELETE /admin/alerts/rules/{id}
    POST   /admin/alerts/check                 flush the pending request-log records, evaluate now
    GET    /admin/alerts/history?limit=N       the alerts sent, newest first

Bodies accept the fields of ``ChannelConfig`` / ``RuleConfig`` and nothing else (400 naming
the field). Channels and rules from the config file are listed too and cannot be deleted here.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from ..alerts.evaluator import AlertService
from ..config import ChannelConfig, RuleConfig
from ..core.errors import InvalidRequest, NotFound
from ..pipeline.gateway import Gateway
from .http import GATEWAY, json_response
from .master_key import require_admin

MAX_BODY = 64 * 1024
CHANNEL_FIELDS = frozenset(ChannelConfig.model_fields)
RULE_FIELDS = frozenset(RuleConfig.model_fields)
WRITE_ONLY = ("secret", "password")


def _service(request: web.Request) -> AlertService:
    gw: Gateway = request.app[GATEWAY]
    require_admin(gw, request)
    svc = gw.services.alerts
    if svc is None:
        raise InvalidRequest("Alerts are off: they need the request log (database_url) and alerts.enabled: true.")
    return svc


async def _body(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise InvalidRequest("The admin request body is too large.")
    try:
        data = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise InvalidRequest("The body must be a JSON object.")
    extra = sorted(set(data) - allowed)
    if extra:
        raise InvalidRequest(
            f"Field(s) not accepted here: {', '.join(repr(e[:40]) for e in extra[:10])}; "
            f"allowed: {', '.join(sorted(allowed))}.",
            param=extra[0][:40],
        )
    return data


def _parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(p) for p in e["loc"]) or None
        where = f"{field}: " if field else ""
        raise InvalidRequest(f"{where}{e['msg']}"[:300], param=field) from None


def channel_view(c: ChannelConfig, source: str) -> dict[str, Any]:
    d = c.model_dump(mode="json")
    for f in WRITE_ONLY:
        d[f + "_set"] = bool(d.pop(f))
    d["source"] = source
    return d


async def list_channels(request: web.Request) -> web.Response:
    svc = _service(request)
    data = [
        channel_view(c, "config" if c.id in svc.config_channels else "api") for c in (await svc.channels()).values()
    ]
    return json_response({"object": "list", "data": data})


async def create_channel(request: web.Request) -> web.Response:
    svc = _service(request)
    channel = _parse(ChannelConfig, await _body(request, CHANNEL_FIELDS))
    if channel.id in svc.config_channels:
        raise InvalidRequest(f"id: channel {channel.id!r} is defined in the config file.", param="id")
    await svc.store.put_channel(channel)
    return json_response(channel_view(channel, "api"), status=201)


async def create_rule(request: web.Request) -> web.Response:
    svc = _service(request)
    rule = _parse(RuleConfig, await _body(request, RULE_FIELDS))
    if rule.id in svc.config_rules:
        raise InvalidRequest(f"id: rule {rule.id!r} is defined in the config file.", param="id")
    known = await svc.channels()
    missing = [c for c in rule.channels if c not in known]
    if missing:
        raise InvalidRequest(f"channels: unknown channel(s) {missing}; known: {sorted(known)}", param="channels")
    await svc.store.put_rule(rule)
    return json_response({**rule.model_dump(mode="json"), "source": "api"}, status=201)


async def list_rules(request: web.Request) -> web.Response:
    svc = _service(request)
    data = [
        {**r.model_dump(mode="json"), "source": "config" if r.id in svc.config_rules else "api"}
        for r in (await svc.rules()).values()
    ]
    return json_response({"object": "list", "data": data})


async def _delete(request: web.Request, table: str, config_ids: set[str] | dict, what: str) -> web.Response:
    svc = _service(request)
    id_ = request.match_info["id"]
    if id_ in config_ids:
        raise InvalidRequest(f"The {what} {id_!r} is defined in the config file; remove it there.")
    if not await svc.store.delete(table, id_):
        raise NotFound(f"No alert {what} {id_!r}.")
    return json_response({"id": id_, "deleted": True})


async def delete_channel(request: web.Request) -> web.Response:
    return await _delete(request, "alert_channel", _service(request).config_channels, "channel")


async def delete_rule(request: web.Request) -> web.Response:
    return await _delete(request, "alert_rule", _service(request).config_rules, "rule")


async def test_channel(request: web.Request) -> web.Response:
    svc = _service(request)
    id_ = request.match_info["id"]
    channel = (await svc.channels()).get(id_)
    if channel is None:
        raise NotFound(f"No alert channel {id_!r}.")
    message = {"event": "test", "rule": None, "text": f"test message to channel {id_}", "at": time.time()}
    return json_response(await svc.deliver(channel, message))


async def check_now(request: web.Request) -> web.Response:
    return json_response(await _service(request).check(flush=True))


async def history(request: web.Request) -> web.Response:
    svc = _service(request)
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequest("limit must be an integer from 1 to 1000.", param="limit")
    return json_response({"object": "list", "data": await svc.store.history(int(raw))})


def add_alerts_routes(app: web.Application, gateway: Gateway) -> None:
    r = app.router
    r.add_post("/admin/alerts/channels", create_channel)
    r.add_get("/admin/alerts/channels", list_channels)
    r.add_delete("/admin/alerts/channels/{id}", delete_channel)
    r.add_post("/admin/alerts/channels/{id}/test", test_channel)
    r.add_post("/admin/alerts/rules", create_rule)
    r.add_get("/admin/alerts/rules", list_rules)
    r.add_delete("/admin/alerts/rules/{id}", delete_rule)
    r.add_post("/admin/alerts/check", check_now)
    r.add_get("/admin/alerts/history", history)
