"""Analytics and feedback routes.

    GET  /v1/analytics/summary?since=&until=&group_by=model|key|route|task|day|arm&baseline=MODEL
         master key only (``Authorization: Bearer <master key>``); 401 otherwise, 400 on bad params.
    GET  /v1/analytics/experiments/{name}?since=  master key only: the experiment's arms compared
         (``routing/experiment_stats.py``); 404 when no request of it is logged.
    POST /v1/feedback {"request_id", "score": 0..1 | "thumbs": "up"|"down", "comment"?}
         only from the gateway key that made the request: 403 another key, 404 unknown id,
         400 a bad score. Feedback on a request still in the writer's queue is accepted.

``add_analytics_routes(app, gateway)`` adds both. The request log writer is the gateway's
``services.request_log`` when there is one; reads use
their own ``Database`` on ``config.database_url``, opened on first use and closed on cleanup.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiohttp import web

from ..core.errors import InvalidRequest, NotFound, PermissionDenied
from ..core.ids import issued_within
from ..keys.secret import hash_key
from ..pipeline.gateway import Gateway
from ..routing.experiment_stats import report as experiment_report
from ..storage import analytics, feedback
from ..storage.db import Database
from ..storage.experiments import experiment_rows
from ..storage.recommendations import RecommendationContext
from .http import GATEWAY, bearer, json_response, read_body
from .master_key import require_admin

ANALYTICS_STATE = web.AppKey("faregate_analytics", dict)

log = logging.getLogger("faregate")


def _gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


async def _db(request: web.Request) -> Database:
    state = request.app[ANALYTICS_STATE]
    async with state["lock"]:
        if state.get("db") is None:
            gw = _gateway(request)
            db = await Database.open(gw.config.database_url)
            await db.migrate("request_log")
            state["db"] = db
    return state["db"]


def _writer(gw: Any):
    return gw.services.request_log


def _prices(gw: Any) -> dict[str, Any]:
    return {m.name: m.prices.prices() for m in gw.config.models}


def recommendation_context(gw: Gateway) -> RecommendationContext:
    """The budgets (per model, and per config key with its own) and fallbacks the log does not hold."""
    cfg = gw.config
    budgets: dict[tuple[str, str], tuple[float, str]] = {}
    scoped = [("model", name, ls) for name, ls in cfg.limits.models.items()]
    scoped += [("key", f"cfg_{hash_key(k.key)[:12]}", k.limits) for k in cfg.keys if k.limits is not None]
    for dim, value, ls in scoped:
        if ls.budget_usd_month is not None:
            budgets[(dim, value)] = (float(ls.budget_usd_month), "month")
        elif ls.budget_usd_day is not None:
            budgets[(dim, value)] = (float(ls.budget_usd_day), "day")
    return RecommendationContext(budgets=budgets, fallbacks={m.name: list(m.fallbacks) for m in cfg.models})


async def summary_handler(request: web.Request) -> web.Response:
    gw = _gateway(request)
    require_admin(gw, request)
    q = request.query
    try:
        now = time.time()
        until = analytics.parse_time(q.get("until"), now=now, name="until")
        since = analytics.parse_time(q.get("since"), now=now, name="since")
        group_by = q.get("group_by", "model")
        s = await analytics.summary(
            await _db(request),
            since=since,
            until=until,
            group_by=group_by,
            baseline=q.get("baseline") or None,
            prices=_prices(gw),
            context=recommendation_context(gw),
        )
    except analytics.BadParameter as exc:
        raise InvalidRequest(str(exc), param=_param_of(str(exc))) from None
    w = _writer(gw)
    if w is not None:
        s["log_writer"] = w.stats()
    return json_response(s)


async def experiment_report_between(db: Any, name: str, since: float, until: float) -> dict[str, Any] | None:
    """The experiment's arms compared over ``[since, until)``; ``None`` if none of it is logged
    (the analytics route and the dashboard's experiments page)."""
    arms = await experiment_rows(db, name, since, until)
    return experiment_report(arms) if arms else None


async def experiment_handler(request: web.Request) -> web.Response:
    gw = _gateway(request)
    require_admin(gw, request)
    name = request.match_info["name"]
    try:
        since = analytics.parse_time(request.query.get("since", "30d"), name="since") or 0.0
    except analytics.BadParameter as exc:
        raise InvalidRequest(str(exc), param="since") from None
    rep = await experiment_report_between(await _db(request), name, since, time.time() + 1)
    if rep is None:
        raise NotFound(f"No request of experiment {name!r} is logged since {request.query.get('since', '30d')}.")
    return json_response({"object": "experiment_report", "experiment": name, **rep})


def _param_of(msg: str) -> str | None:
    for p in ("group_by", "since", "until", "baseline"):
        if msg.startswith(p):
            return p
    return None


async def feedback_handler(request: web.Request) -> web.Response:
    gw = _gateway(request)
    principal = await gw.authenticate(bearer(request))
    raw = await read_body(request, 64 * 1024)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest('The body must be a JSON object like {"request_id": "...", "score": 0.8}.') from None
    fb = feedback.parse(body)
    key_id = principal.key_id if principal is not None else None
    db = await _db(request)
    owner_known, owner = False, None
    w = _writer(gw)
    if w is not None and fb.request_id in w.recent:
        owner_known, owner = True, w.recent[fb.request_id]
    if not owner_known:
        row = await _logged(db, fb.request_id)
        if row is None:
            raise NotFound(f"No request with id {fb.request_id!r} in the request log.")
        owner = row["key_id"]
    if owner != key_id:
        raise PermissionDenied("Feedback is accepted only from the gateway key that made the request.")
    await feedback.record(db, fb, key_id=key_id)
    learner, shared = gw.services.learner, gw.services.shared_learning
    if learner is not None:
        try:  # shared: whichever replica answered the request, and learned once in the fleet
            await shared.feedback(fb.request_id, fb.score) if shared is not None else learner.feedback(
                fb.request_id, fb.score
            )
        except Exception:
            log.warning("feedback on %s not learned from", fb.request_id, exc_info=True)
    return json_response({"object": "feedback", "request_id": fb.request_id, "score": fb.score, "accepted": True})


# Behind a load balancer the feedback may reach another replica before the one that answered has
# flushed the request's log row (a batch every log_writer.flush_interval_s): look a little longer,
# but only for an id issued recently enough to be in flight (a stream may last minutes). An id
# that is not one of ours, or an old one, is answered after one lookup.
FEEDBACK_LOOKUP_S = 3.0
MAY_BE_PENDING_S = 600.0


async def _logged(db: Database, request_id: str) -> dict | None:
    wait = FEEDBACK_LOOKUP_S if issued_within(request_id, MAY_BE_PENDING_S) else 0.0
    deadline = time.monotonic() + wait
    while True:
        row = await db.fetchrow("SELECT key_id FROM request_log WHERE id = $1", request_id)
        if row is not None or time.monotonic() >= deadline:
            return row
        await asyncio.sleep(0.2)


def add_analytics_routes(app: web.Application, gateway: Any) -> None:
    app[ANALYTICS_STATE] = {"db": None, "lock": asyncio.Lock()}
    app.router.add_get("/v1/analytics/summary", summary_handler)
    app.router.add_get("/v1/analytics/experiments/{name}", experiment_handler)
    app.router.add_post("/v1/feedback", feedback_handler)

    async def close_db(_app: web.Application) -> None:
        db = _app[ANALYTICS_STATE].get("db")
        if db is not None:
            await db.close()

    app.on_cleanup.append(close_db)
