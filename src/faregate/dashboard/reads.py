"""What the overview, models and recommendations pages show, read through the APIs' own services.

Totals, groups and recommendations are ``storage.analytics.summary`` (the analytics API's
function, on the analytics API's database handle); the chart series are the same rollup
accumulation per bucket; deployments are the health route's ``deployment_status``; the cache
panel is the cache service's ``stats``. Nothing here reads a table another module does not.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from aiohttp import web

from ..pipeline.gateway import Gateway
from ..server.analytics_routes import _db, _prices, recommendation_context
from ..server.health_routes import deployment_status
from ..server.http import GATEWAY
from ..storage import analytics, rollup
from ..storage.db import Database
from .periods import Period

MONTH_S = analytics.MONTH_S


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


async def database(request: web.Request) -> Database:
    """The analytics API's database handle (opened on first use, closed on cleanup)."""
    return await _db(request)


def baselines(gw: Gateway) -> list[str]:
    """Models with prices, the dearest first (the default baseline: what routing saves against)."""
    prices = _prices(gw)
    return sorted(prices, key=lambda m: (-(prices[m].input + prices[m].output), m))


def pick_baseline(gw: Gateway, asked: str | None) -> str | None:
    names = baselines(gw)
    if asked in names:
        return asked
    return names[0] if names else None


async def summary(request: web.Request, period: Period, group_by: str, baseline: str | None) -> dict[str, Any]:
    """``GET /v1/analytics/summary`` for the period, exactly as the API computes it."""
    gw = gateway(request)
    return await analytics.summary(
        await database(request),
        since=period.since,
        until=period.until,
        group_by=group_by,
        baseline=baseline,
        prices=_prices(gw),
        context=recommendation_context(gw),
    )


def projected(total: dict[str, Any], period: Period) -> dict[str, float | None]:
    """Spend and savings scaled to 30 days at the period's rate."""
    scale = MONTH_S / period.seconds
    savings = total.get("savings_usd")
    return {
        "spend_usd": round(total["spend_usd"] * scale, 6),
        "savings_usd": round(savings * scale, 6) if savings is not None else None,
        "cache_saved_usd": round(total["cache_saved_usd"] * scale, 6),
    }


async def totals(request: web.Request, period: Period, dims: tuple[str, ...], baseline: str | None) -> dict[str, Any]:
    """The summary's ``total`` and per-dim ``groups`` for the period, computed as
    ``analytics.summary`` computes them (``_accumulate`` then ``_finish``) but over only the
    dims a page shows: the recommendation rules' extra dims (key, route x model) are what make
    a full summary slow, and only the recommendations page needs them."""
    db = await database(request)
    prices = _prices(gateway(request))
    base = prices.get(baseline) if baseline else None
    acc = await analytics._accumulate(db, period.since, period.until, dims)
    total = rollup.empty()
    for g in acc[dims[0]].values():  # every request is in exactly one group of a dim
        analytics._add(total, g)
    out: dict[str, Any] = {"total": analytics._finish(total, base)}
    for dim in dims:
        fb = await analytics._feedback(db, period.since, period.until, dim)
        groups = acc[dim]
        out[dim] = [
            {"group": k, **analytics._finish(groups[k], base), **({"feedback": fb[k]} if k in fb else {})}
            for k in sorted(groups, key=lambda k: (-groups[k]["cost_usd"], k))
        ]
    return out


async def series(request: web.Request, period: Period) -> dict[str, Any]:
    """Per bucket: requests and spend, in total and per model. Buckets of an hour or more come
    from the rollup (hourly, or daily for day buckets: two columns of a few thousand rows);
    shorter ones (the last hour) from the rows, through the ts index. The rollup's first and
    last hour count whole."""
    db = await database(request)
    edges = period.buckets()
    step = edges[0][1] - edges[0][0] if len(edges) == 1 else edges[1][1] - edges[1][0]
    lo, hi = edges[0][0], edges[-1][1]
    if step >= 3600:
        table = "request_rollup_day" if step >= 86400 else "request_rollup"
        span = 86400 if step >= 86400 else 3600
        rows = await db.fetch(
            f"SELECT hour AS t, value AS model, requests AS n, cost_usd AS c FROM {table} "
            "WHERE dim = 'model' AND hour >= $1 AND hour < $2",
            int(lo // span * span),
            hi,
        )
    else:
        rows = await db.fetch(
            "SELECT ts AS t, COALESCE(model, requested_model, '') AS model, 1 AS n, cost_usd AS c "
            "FROM request_log WHERE ts >= $1 AND ts < $2",
            lo,
            hi,
        )
    starts = [b[0] for b in edges]
    per_model: dict[str, list[list[float]]] = {}
    for r in rows:
        i = max(0, bisect.bisect_right(starts, float(r["t"])) - 1)
        cell = per_model.setdefault(r["model"], [[0, 0.0] for _ in starts])[i]
        cell[0] += r["n"]
        cell[1] += r["c"] or 0.0
    models = sorted(per_model, key=lambda m: (-sum(c[0] for c in per_model[m]), m))
    n = len(starts)
    return {
        "t": [int(x) for x in starts],
        "requests": [int(sum(per_model[m][i][0] for m in models)) for i in range(n)],
        "spend_usd": [round(sum(per_model[m][i][1] for m in models), 6) for i in range(n)],
        "models": models,
        "model_requests": {m: [int(c[0]) for c in per_model[m]] for m in models},
    }


def shares(s: dict[str, Any]) -> dict[str, Any]:
    """Each model's share of each bucket's requests, stacked (for the models page's chart)."""
    out: dict[str, list[float]] = {}
    below = [0.0] * len(s["t"])
    for m in s["models"]:
        top = []
        for i, r in enumerate(s["model_requests"][m]):
            total = s["requests"][i]
            below[i] += r / total if total else 0.0
            top.append(round(below[i], 4))
        out[m] = top
    return {"t": s["t"], "stacked": True, "series": [{"label": m, "values": out[m]} for m in s["models"]]}


async def cache_panel(request: web.Request) -> dict[str, Any] | None:
    svc = gateway(request).services.cache
    return await svc.stats() if svc is not None else None


def deployments(request: web.Request) -> list[dict[str, Any]]:
    """Every deployment's breaker and health, as ``GET /v1/health/deployments`` shows them."""
    gw = gateway(request)
    now = time.monotonic()
    return [deployment_status(d, now, gw.runtime.redactor) for d in gw.registry.all()]


PREDICTED_SAMPLE = 5000


async def predicted_quality(request: web.Request, period: Period) -> dict[str, float]:
    """Mean predicted quality per model over the period's newest ``PREDICTED_SAMPLE`` requests
    (through the ts index: the rollups hold no predictions)."""
    db = await database(request)
    rows = await db.fetch(
        "SELECT model, AVG(pred_quality) AS q FROM (SELECT model, pred_quality FROM request_log "
        "WHERE ts >= $1 AND ts < $2 ORDER BY ts DESC LIMIT $3) AS recent "
        "WHERE pred_quality IS NOT NULL AND model IS NOT NULL GROUP BY model",
        period.since,
        period.until,
        PREDICTED_SAMPLE,
    )
    return {r["model"]: round(float(r["q"]), 4) for r in rows}
