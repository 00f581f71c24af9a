"""The dashboard's read-only pages: overview, models and routes, requests, one request,
recommendations. Each needs a session (else a redirect to the login form)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..server.analytics_routes import experiment_report_between
from ..storage import analytics
from . import reads, request_pages
from .periods import PERIODS, BadPeriod, Period, parse
from .session import Session
from .web import page_session, refuse, render


def _common(request: web.Request, s: Session, period: Period, **more: Any) -> dict[str, Any]:
    return {
        "session": s,
        "period": period,
        "periods": list(PERIODS),
        "path": request.path,
        "query": dict(request.query),
        **more,
    }


async def _period(request: web.Request, s: Session) -> Period | web.Response:
    try:
        return parse(request.query)
    except BadPeriod as exc:
        return refuse(request, 400, str(exc), s)


async def overview(request: web.Request) -> web.Response:
    s = page_session(request)
    period = await _period(request, s)
    if isinstance(period, web.Response):
        return period
    gw = reads.gateway(request)
    baseline = reads.pick_baseline(gw, request.query.get("baseline"))
    summ = await reads.totals(request, period, ("model",), baseline)
    chart = await reads.series(request, period)
    ctx = _common(
        request,
        s,
        period,
        groups=summ["model"],
        total=summ["total"],
        baseline=baseline,
        baselines=reads.baselines(gw),
        projected=reads.projected(summ["total"], period),
        chart=chart,
        cache=await reads.cache_panel(request),
    )
    return render(request, "overview.html", ctx)


async def models(request: web.Request) -> web.Response:
    s = page_session(request)
    period = await _period(request, s)
    if isinstance(period, web.Response):
        return period
    summ = await reads.totals(request, period, ("model", "route"), None)
    ctx = _common(
        request,
        s,
        period,
        by_model=summ["model"],
        by_route=summ["route"],
        predicted=await reads.predicted_quality(request, period),
        shares=reads.shares(await reads.series(request, period)),
        deployments=reads.deployments(request),
    )
    return render(request, "models.html", ctx)


async def requests_list(request: web.Request) -> web.Response:
    s = page_session(request)
    period = await _period(request, s)
    if isinstance(period, web.Response):
        return period
    filters = {f: request.query.get(f, "") for f in request_pages.FILTERS}
    try:
        cursor = request_pages.parse_cursor(request.query.get("before"))
        rows, nxt = await request_pages.page(await reads.database(request), filters, period, cursor)
    except request_pages.BadFilter as exc:
        return refuse(request, 400, str(exc), s)
    keep = {k: v for k, v in request.query.items() if k != "before" and v}
    ctx = _common(request, s, period, rows=rows, next_cursor=nxt, filters=filters, keep=keep, first=cursor is None)
    return render(request, "requests.html", ctx)


async def request_detail(request: web.Request) -> web.Response:
    s = page_session(request)
    rid = request.match_info["id"][:200]
    db = await reads.database(request)
    found = await request_pages.one(db, rid)
    if found is None:
        writer = reads.gateway(request).services.request_log
        if writer is not None and rid in writer.recent:
            await writer.flush()  # still in the writer's queue: write it now, then show it
            found = await request_pages.one(db, rid)
    if found is None:
        return refuse(request, 404, f"No request with id {rid!r} in the request log.", s)
    # Prompt and answer text: only logged with server.log_bodies, and shown only to an admin.
    show_bodies = s.admin
    period = parse({})
    return render(request, "request.html", _common(request, s, period, r=found, show_bodies=show_bodies))


async def recommendations(request: web.Request) -> web.Response:
    s = page_session(request)
    period = await _period(request, s)
    if isinstance(period, web.Response):
        return period
    gw = reads.gateway(request)
    baseline = reads.pick_baseline(gw, request.query.get("baseline"))
    try:
        summ = await reads.summary(request, period, "model", baseline)
    except analytics.BadParameter as exc:
        return refuse(request, 400, str(exc), s)
    ctx = _common(request, s, period, recs=summ["recommendations"], baseline=baseline, baselines=reads.baselines(gw))
    return render(request, "recommendations.html", ctx)


async def experiments(request: web.Request) -> web.Response:
    """Each experiment in force, its arms and, over the period, the arms compared (as the report)."""
    s = page_session(request)
    period = await _period(request, s)
    if isinstance(period, web.Response):
        return period
    db = await reads.database(request)
    shown = []
    for e in reads.gateway(request).config.experiments:
        shown.append({"config": e, "report": await experiment_report_between(db, e.name, period.since, period.until)})
    return render(request, "experiments.html", _common(request, s, period, experiments=shown))
