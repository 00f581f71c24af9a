"""What the overview, models and recommendations pages show, read through the APIs' own services.

Totals, groups and recommendations are ``storage.analytics.summary`` (the analytics API's
function, on the analytics API's database handle); the chart series are the same rollup
accumulation per bucket; deployments are the health route's ``deployment_status``; the cache
panel is the cache service's ``stats``. Nothing here reads a table another module does not.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ..pipeline.gateway import Gateway
from ..server.analytics_routes import _db, _prices, recommendation_context
from ..server.health_routes import deployment_status
from ..server.http import GATEWAY
from ..storage import analytics
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


async def series(request: web.Request, period: Period) -> dict[str, Any]:
    """Per bucket: requests and spend, in total and per model (the rollups, bucket by bucket)."""
    db = await database(request)
    starts: list[float] = []
    per_model: dict[str, dict[int, tuple[int, float]]] = {}
    for i, (lo, hi) in enumerate(period.buckets()):
        starts.append(lo)
        acc = await analytics._accumulate(db, lo, hi, ("model",))
        for model, a in acc["model"].items():
            per_model.setdefault(model, {})[i] = (a["requests"], a["cost_usd"])
    n = len(starts)
    models = sorted(per_model, key=lambda m: -sum(r for r, _ in per_model[m].values()))
    reqs = {m: [per_model[m].get(i, (0, 0.0))[0] for i in range(n)] for m in models}
    spend = {m: [round(per_model[m].get(i, (0, 0.0))[1], 6) for i in range(n)] for m in models}
    return {
        "t": [int(s) for s in starts],
        "requests": [sum(reqs[m][i] for m in models) for i in range(n)],
        "spend_usd": [round(sum(spend[m][i] for m in models), 6) for i in range(n)],
        "models": models,
        "model_requests": reqs,
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
