"""Keys, teams and budgets; alerts. Changes go through the admin API's own code.

Revoking a key and editing a key's or team's limits call the admin API's key store, limit
validation (``admin_input.limits_field``) and resolver invalidation, on the same state object as
``/admin/...``; usage bars are ``admin_routes.counters``, the figures of ``GET /admin/usage``.
Every change is a form in two steps: the first post shows what will change, the second
(``confirm=yes``) makes it. Alert channels are shown as ``GET /admin/alerts/channels`` shows
them (``channel_view``: secrets and passwords as ``*_set`` flags), with the URL cut to its host
(a Slack or webhook URL's path can be the credential itself).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ..core.errors import InvalidRequest
from ..keys.records import LIMIT_FIELDS
from ..pipeline.limits_step import merged
from ..server.admin_input import limits_field
from ..server.admin_routes import ADMIN_STATE, _Admin, counters
from ..server.alerts_routes import channel_view
from . import reads
from .periods import Period, parse
from .session import Session
from .web import change, page_session, refuse, render

NUMERIC_LIMITS = tuple(f for f in LIMIT_FIELDS if f != "budget_soft")


def _admin(request: web.Request) -> _Admin:
    """The admin API's state (key store, limit store, resolver) — the one ``/admin/...`` uses."""
    state = request.app[ADMIN_STATE]
    if "admin" not in state:
        state["admin"] = _Admin(reads.gateway(request))
    adm: _Admin = state["admin"]
    return adm


def _level(c: dict[str, Any]) -> str:
    share = c["used"] / c["max"] if c["max"] else (1.0 if c["used"] else 0.0)
    return "red" if share >= 1 else "amber" if share >= 0.8 else "green"


async def _bars(adm: _Admin, scope: str, ls: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for c in await counters(adm, scope, ls):
        pct = min(100.0, 100 * c["used"] / c["max"]) if c["max"] else 100.0
        out.append({**c, "pct": round(pct, 1), "level": _level(c)})
    return out


async def keys_page(request: web.Request) -> web.Response:
    s = page_session(request)
    adm = _admin(request)
    cfg = adm.gw.config.limits
    store = await adm.store()
    # Spend per key over 30 days from 00:00 UTC: whole days come from the daily rollup.
    now = time.time()
    period = Period("custom", (now - 30 * 86400) // 86400 * 86400, now)
    spend = {g["group"]: g for g in (await reads.totals(request, period, ("key",), None))["key"]}
    keys: list[dict[str, Any]] = []
    for rec in await store.list_keys():
        ls = merged(cfg.keys, rec.limits)
        keys.append({"rec": rec.public(), "bars": await _bars(adm, f"key:{rec.id}", ls), "spend": spend.get(rec.id)})
    for rk in getattr(adm.resolver, "_config", {}).values():  # keys from the config file
        ls = merged(cfg.keys, rk.limits)
        shown = {"id": rk.key_id, "name": rk.name, "prefix": rk.prefix, "team": rk.team, "limits": rk.limits}
        shown |= {"active": True, "config": True}
        keys.append({"rec": shown, "bars": await _bars(adm, f"key:{rk.key_id}", ls), "spend": spend.get(rk.key_id)})
    known = {k["rec"]["id"] for k in keys}
    others = [g for key_id, g in spend.items() if key_id not in known]  # e.g. keys since removed
    teams = []
    names = sorted({t.name for t in await store.list_teams()} | set(cfg.teams))
    for name in names:
        t = await store.get_team(name)
        ls = merged(cfg.teams.get(name), t.limits if t else None)
        teams.append({"name": name, "limits": ls, "bars": await _bars(adm, f"team:{name}", ls)})
    models = [{"name": m, "bars": await _bars(adm, f"model:{m}", merged(ls))} for m, ls in sorted(cfg.models.items())]
    ctx = {"session": s, "period": period, "keys": keys, "teams": teams, "models": models, "fields": LIMIT_FIELDS}
    ctx["others"] = others
    ctx["query"] = dict(request.query)
    return render(request, "keys.html", ctx)


def _limit_form(form: Any) -> dict[str, Any]:
    """The limit fields of a posted form: a blank field clears that limit."""
    out: dict[str, Any] = {}
    for f in NUMERIC_LIMITS:
        raw = str(form.get(f, "")).strip()
        if not raw:
            out[f] = None
            continue
        try:
            out[f] = float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise InvalidRequest(f"limits.{f}: {raw[:40]!r} is not a number.", param=f"limits.{f}") from None
    soft = form.get("budget_soft") in ("on", "true", "1")
    if soft:
        out["budget_soft"] = True
    checked = limits_field(out) or {}
    return checked if soft else {**checked, "budget_soft": None}  # unchecked: cleared (the default)


def _confirm(request: web.Request, s: Session, what: str, form: Any, details: dict[str, Any]) -> web.Response:
    fields = {k: str(v) for k, v in form.items() if k not in ("csrf", "confirm")}
    ctx = {"session": s, "what": what, "action": request.path, "fields": fields, "details": details}
    return render(request, "confirm.html", ctx)


async def revoke(request: web.Request) -> web.Response:
    checked = await change(request)
    if isinstance(checked, web.Response):
        return checked
    s, form = checked
    adm = _admin(request)
    store = await adm.store()
    key_id = request.match_info["id"][:200]
    rec = await store.get_key(key_id)
    if rec is None or not rec.active():
        return refuse(request, 404, f"No active key {key_id!r}.", s)
    if form.get("confirm") != "yes":
        return _confirm(request, s, f"Revoke key {rec.name} ({rec.prefix}…)", form, {"requests with it": "refused"})
    await store.revoke_key(key_id)
    adm.invalidate()  # this replica stops accepting it at once (others within key_cache_ttl_s)
    raise web.HTTPSeeOther(location="/dashboard/keys?done=revoked")


async def key_limits(request: web.Request) -> web.Response:
    checked = await change(request)
    if isinstance(checked, web.Response):
        return checked
    s, form = checked
    store = await _admin(request).store()
    key_id = request.match_info["id"][:200]
    rec = await store.get_key(key_id)
    if rec is None:
        return refuse(request, 404, f"No key {key_id!r}.", s)

    async def apply(limits: dict[str, Any]) -> None:
        await store.update_key(key_id, limits=limits)

    return await _set_limits(request, s, form, f"key {rec.name}", rec.limits, apply)


async def team_limits(request: web.Request) -> web.Response:
    checked = await change(request)
    if isinstance(checked, web.Response):
        return checked
    s, form = checked
    store = await _admin(request).store()
    name = request.match_info["name"][:200]
    team = await store.get_team(name)

    async def apply(limits: dict[str, Any]) -> None:
        await store.upsert_team(name, limits=limits)

    return await _set_limits(request, s, form, f"team {name}", team.limits if team else {}, apply)


async def _set_limits(
    request: web.Request,
    s: Session,
    form: Any,
    what: str,
    before: dict[str, Any],
    apply: Callable[[dict[str, Any]], Awaitable[None]],
) -> web.Response:
    """The limit edit shared by keys and teams: check the form, confirm the difference, apply."""
    try:
        limits = _limit_form(form)
    except InvalidRequest as exc:
        return refuse(request, 400, exc.message, s)
    if form.get("confirm") != "yes":
        return _confirm(request, s, f"Set the limits of {what}", form, _diff(before, limits))
    await apply(limits)
    _admin(request).invalidate()
    raise web.HTTPSeeOther(location="/dashboard/keys?done=limits")


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    out = {}
    for f in LIMIT_FIELDS:
        a, b = before.get(f), after.get(f)
        if a != b and not (f == "budget_soft" and not a and not b):
            out[f] = f"{'unset' if a is None else a} → {'unset' if b is None else b}"
    return out or {"limits": "unchanged"}


def _channel(c: Any, source: str) -> dict[str, Any]:
    d = channel_view(c, source)
    if d.get("url"):
        parts = urlsplit(d["url"])
        d["url"] = f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else "(set)"
    return d


async def alerts_page(request: web.Request) -> web.Response:
    s = page_session(request)
    svc = reads.gateway(request).services.alerts
    ctx: dict[str, Any] = {"session": s, "period": parse({}), "enabled": svc is not None, "query": dict(request.query)}
    if svc is not None:
        redact = reads.gateway(request).runtime.redactor
        ctx["channels"] = [
            _channel(c, "config" if c.id in svc.config_channels else "api") for c in (await svc.channels()).values()
        ]
        ctx["rules"] = [
            {**r.model_dump(mode="json"), "source": "config" if r.id in svc.config_rules else "api"}
            for r in (await svc.rules()).values()
        ]
        ctx["history"] = [{**h, "error": redact(h.get("error"))} for h in await svc.store.history(50)]
    return render(request, "alerts.html", ctx)


async def test_channel(request: web.Request) -> web.Response:
    checked = await change(request)
    if isinstance(checked, web.Response):
        return checked
    s, _form = checked
    svc = reads.gateway(request).services.alerts
    if svc is None:
        return refuse(request, 404, "Alerts are off (alerts.enabled: false).", s)
    id_ = request.match_info["id"][:200]
    channel = (await svc.channels()).get(id_)
    if channel is None:
        return refuse(request, 404, f"No alert channel {id_!r}.", s)
    message = {"event": "test", "rule": None, "text": f"test message to channel {id_}", "at": time.time()}
    out = await svc.deliver(channel, message)
    raise web.HTTPSeeOther(location="/dashboard/alerts?" + urlencode({"tested": id_, "outcome": out["outcome"]}))
