"""Analytics over the request log: ``summary(db, since, until, group_by, ...)``.

Whole hours inside ``[since, until)`` come from the hourly rollup (``request_rollup``, kept by
the writer in the same transaction as the rows); the partial hours at either edge are read
from ``request_log`` through its ``ts`` index and folded in with the same arithmetic. So a
summary over a million requests reads a few thousand rollup rows plus at most two hours of
raw rows. Percentiles come from fixed log-spaced histogram buckets (about 26% wide; the value
reported is the bucket's geometric middle).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from ..core.usage import Prices, Usage
from . import rollup
from .db import Database
from .recommendations import RecommendationContext, recommend

GROUP_BYS = ("model", "key", "route", "task", "day", "arm", "policy", "complexity")
_RAW_GROUPS = ("policy", "complexity")  # columns newer than the rollups: grouped from the rows
MONTH_S = 30 * 86400
_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class BadParameter(ValueError):
    """A bad ``since`` / ``until`` / ``group_by``; the message says what is accepted."""


def parse_time(value: str | float | None, *, now: float | None = None, name: str = "since") -> float | None:
    """``1h`` / ``7d`` / ``30m`` (ago), an ISO 8601 time (UTC if no offset), or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    now = time.time() if now is None else now
    m = _REL.match(value)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2).lower()]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(
            f"{name} must be a duration ago like 1h, 7d, 30m, an ISO 8601 time like "
            f"2026-01-31T12:00:00Z, or epoch seconds; got {value[:40]!r}"
        ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.timestamp()


def _day(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d")


def _sum_cols(dialect: str, cols: tuple[str, ...]) -> str:
    # Integer sums through DOUBLE PRECISION: exact to 2**53, and PostgreSQL's SUM(bigint) goes
    # through NUMERIC, several times slower over 134 columns. SQLite's integer sums stay integers.
    if dialect != "postgres":
        return ", ".join(f"SUM({c}) AS {c}" for c in cols)
    floats = ("cost_usd", "latency_sum", "cache_saved_usd")
    return ", ".join(f"SUM({c}) AS {c}" if c in floats else f"SUM({c}::float8)::bigint AS {c}" for c in cols)


# (dialect, histograms too) -> the SUM list: the histograms are 120 of the 135 columns, and a
# dim that only feeds the recommendation rules (route x model, key) needs none of them.
_SUM_COLS = {
    (d, h): _sum_cols(d, rollup.ALL_COLS if h else rollup.COUNTERS)
    for d in ("postgres", "sqlite")
    for h in (True, False)
}
_RAW_COLS = (
    "ts, key_id, route, requested_model, model, task, arm, status, error_class, fallback_used, cache_hit, "
    "constraint_unmet, client_disconnect, latency_met, input_tokens, output_tokens, cached_tokens, "
    "cost_usd, latency_ms, ttft_ms, cache_saved_usd"
)


def _add(acc: dict[str, Any], row: Mapping[str, Any], cols: tuple[str, ...] = rollup.ALL_COLS) -> None:
    for c in cols:
        acc[c] += row[c] or 0


async def _accumulate(
    db: Database, since: float, until: float, dims: tuple[str, ...], counters_only: frozenset[str] = frozenset()
) -> dict[str, dict[str, dict[str, Any]]]:
    """dim -> value -> accumulator (rollup columns), for several dims in one pass. ``day`` is
    the 'all' dim keyed by UTC day. The dims in ``counters_only`` get their whole buckets'
    counters but no histograms (left at 0 but for the partial edges' rows: don't read them)."""
    acc = _Accumulation(db, dims, counters_only)
    # Whole UTC days from the daily rollup, whole hours at the ends from the hourly one,
    # the partial hours at the very ends from the rows themselves.
    d_lo, d_hi = math.ceil(since / 86400) * 86400, math.floor(until / 86400) * 86400
    if d_lo < d_hi:
        await acc.from_table("request_rollup_day", int(d_lo), int(d_hi))
        await acc.hourly(since, float(d_lo))
        await acc.hourly(float(d_hi), until)
    else:
        await acc.hourly(since, until)
    return acc.out


class _Accumulation:
    """The accumulators of one ``_accumulate`` call and the three sources that feed them."""

    def __init__(self, db: Database, dims: tuple[str, ...], counters_only: frozenset[str] = frozenset()) -> None:
        self.db = db
        self.dims = dims
        table_dims = [d for d in dims if d != "day"]
        self.table_dims = {
            True: tuple(d for d in table_dims if d not in counters_only),
            False: tuple(d for d in table_dims if d in counters_only),
        }
        self.out: dict[str, dict[str, dict[str, Any]]] = {d: {} for d in dims}

    def acc_for(self, dim: str, key: str) -> dict[str, Any]:
        a = self.out[dim].get(key)
        if a is None:
            a = self.out[dim][key] = rollup.empty()
        return a

    async def from_table(self, table: str, lo: int, hi: int) -> None:
        """Whole hours (or days) from a rollup table."""
        db = self.db
        if "day" in self.dims:
            rows = await db.fetch(
                f"SELECT hour, {', '.join(rollup.ALL_COLS)} FROM {table} "
                f"WHERE dim = 'all' AND hour >= $1 AND hour < $2",
                lo,
                hi,
            )
            for r in rows:
                _add(self.acc_for("day", _day(r["hour"])), r)
        for hist, dims in self.table_dims.items():
            if not dims:
                continue
            marks = ", ".join(f"${i + 3}" for i in range(len(dims)))
            rows = await db.fetch(
                f"SELECT dim, value, {_SUM_COLS[db.dialect, hist]} FROM {table} WHERE hour >= $1 AND hour < $2 "
                f"AND dim IN ({marks}) GROUP BY dim, value",
                lo,
                hi,
                *dims,
            )
            cols = rollup.ALL_COLS if hist else rollup.COUNTERS
            for r in rows:
                _add(self.acc_for(r["dim"], r["value"]), r, cols)

    async def raw(self, lo: float, hi: float) -> None:
        """The rows themselves, for partial hours."""
        if lo >= hi:
            return
        for r in await self.db.fetch(f"SELECT {_RAW_COLS} FROM request_log WHERE ts >= $1 AND ts < $2", lo, hi):
            values = dict(rollup.dim_values(r))
            for dim in self.dims:
                rollup.add_row(self.acc_for(dim, _day(r["ts"]) if dim == "day" else values[dim]), r)

    async def hourly(self, lo: float, hi: float) -> None:
        """Whole hours from the hourly rollup, the partial ones at both ends from the rows."""
        h_lo, h_hi = math.ceil(lo / 3600) * 3600, math.floor(hi / 3600) * 3600
        if h_lo < h_hi:
            await self.from_table("request_rollup", int(h_lo), int(h_hi))
            await self.raw(lo, float(h_lo))
            await self.raw(float(h_hi), hi)
        else:
            await self.raw(lo, hi)


def _finish(a: dict[str, Any], baseline: Prices | None) -> dict[str, Any]:
    n = a["requests"]

    def rate(k):
        return round(a[k] / n, 4) if n else None

    lat = [a[f"l{i}"] for i in range(rollup.NBINS)]
    ttft = [a[f"t{i}"] for i in range(rollup.NBINS)]
    out: dict[str, Any] = {
        "requests": n,
        "spend_usd": round(a["cost_usd"], 6),
        "tokens": {"input": a["input_tokens"], "output": a["output_tokens"], "cached": a["cached_tokens"]},
        "latency_ms": {
            "mean": round(a["latency_sum"] / n, 1) if n else None,
            "p50": rollup.percentile(lat, 0.5),
            "p95": rollup.percentile(lat, 0.95),
            "p99": rollup.percentile(lat, 0.99),
        },
        "ttft_ms": {
            "p50": rollup.percentile(ttft, 0.5),
            "p95": rollup.percentile(ttft, 0.95),
            "p99": rollup.percentile(ttft, 0.99),
        },
        "latency_ceiling_met": round(a["ceiling_met"] / a["ceiling_n"], 4) if a["ceiling_n"] else None,
        "fallback_rate": rate("fallbacks"),
        "error_rate": rate("errors"),
        "cache_hit_rate": rate("cache_hits"),
        "cache_saved_usd": round(a["cache_saved_usd"], 6),  # upstream cost the cache's answers avoided
        "constraint_unmet_rate": rate("unmet"),
        "client_disconnect_rate": rate("disconnects"),
    }
    if baseline is not None:
        base = baseline.cost(Usage(a["input_tokens"], a["output_tokens"], a["cached_tokens"]))
        out["baseline_cost_usd"] = round(base, 6)
        out["savings_usd"] = round(base - a["cost_usd"], 6)
        out["savings_pct"] = round(100 * (base - a["cost_usd"]) / base, 2) if base > 0 else None
    return out


async def summary(
    db: Database,
    *,
    since: float | None = None,
    until: float | None = None,
    group_by: str = "model",
    baseline: str | None = None,
    prices: Mapping[str, Prices] | None = None,
    min_requests: int = 20,
    min_share: float = 0.75,
    context: RecommendationContext | None = None,
) -> dict[str, Any]:
    """Totals and groups over ``[since, until)`` (default: the last 7 days up to now).

    ``prices`` maps model name to ``Prices``; with ``baseline`` it gives savings (what the same
    token counts would have cost on the baseline model) and enables recommendations.
    """
    if group_by not in GROUP_BYS:
        raise BadParameter(f"group_by must be one of {', '.join(GROUP_BYS)}; got {group_by!r}")
    prices = dict(prices or {})
    if baseline is not None and baseline not in prices:
        raise BadParameter(f"baseline model {baseline!r} has no prices; known: {', '.join(sorted(prices)) or 'none'}")
    until = time.time() if until is None else until
    since = until - 7 * 86400 if since is None else since
    if since >= until:
        raise BadParameter("since must be before until")
    base = prices.get(baseline) if baseline else None
    wanted = (group_by, *(("route_model",) if prices else ()), "model", "key")
    dims = tuple(d for d in dict.fromkeys(wanted) if d not in _RAW_GROUPS)
    # Only the grouped dim's histograms are shown; the others feed the rules, which read counters.
    acc = await _accumulate(db, since, until, dims, frozenset(dims) - {group_by}) if dims else {}
    if group_by in _RAW_GROUPS:
        acc[group_by] = await _by_column(db, since, until, group_by)
    groups = acc[group_by]
    total = rollup.empty()  # every request is in exactly one group: the total is their sum
    for g in groups.values():
        _add(total, g)
    feedback = await _feedback(db, since, until, group_by)
    out_groups = []
    for key in sorted(groups, key=lambda k: (-groups[k]["cost_usd"], k) if group_by != "day" else k):
        g = {"group": key, **_finish(groups[key], base)}
        if key in feedback:
            g["feedback"] = feedback[key]
        out_groups.append(g)
    result: dict[str, Any] = {
        "since": since,
        "until": until,
        "group_by": group_by,
        "baseline": baseline,
        "total": _finish(total, base),
        "groups": out_groups,
    }
    rm = acc.get("route_model", {})
    routes = _recommend(rm, since, until, prices, min_requests=min_requests, min_share=min_share) if prices else []
    recs = await recommend(db, acc, since, until, prices, context)
    # Apart: the rules that could not be evaluated on this log, each with what it needs and why.
    result["recommendations"] = _tagged(routes) + [r for r in recs if "needs" not in r]
    result["unavailable_recommendations"] = [r for r in recs if "needs" in r]
    return result


def _tagged(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The route rule's findings in the shape of the others (``rule``, ``evidence``)."""
    for r in routes:
        r["rule"] = "cheaper_model_for_route"
        r["evidence"] = {k: r[k] for k in ("route", "model", "share_met", "requests")}
    return routes


_FEEDBACK_COL = {
    "model": "COALESCE(l.model, l.requested_model, '')",
    "key": "COALESCE(l.key_id, '')",
    "route": "COALESCE(l.route, '')",
    "task": "COALESCE(l.task, '')",
    "arm": "COALESCE(l.arm, '')",
    "policy": "COALESCE(l.policy, '')",
    "complexity": "COALESCE(l.complexity, '')",
}


async def _by_column(db: Database, since: float, until: float, col: str) -> dict[str, dict[str, Any]]:
    """Per policy version or complexity class, from the rows themselves: the rollups predate
    those columns (``_RAW_GROUPS``, fixed names: never user input in the SQL)."""
    assert col in _RAW_GROUPS
    out: dict[str, dict[str, Any]] = {}
    rows = await db.fetch(f"SELECT {_RAW_COLS}, {col} FROM request_log WHERE ts >= $1 AND ts < $2", since, until)
    for r in rows:
        key = r[col] or ""
        rollup.add_row(out.setdefault(key, rollup.empty()), r)
    return out


async def _feedback(db: Database, since: float, until: float, group_by: str) -> dict[str, dict[str, Any]]:
    col = _FEEDBACK_COL.get(group_by)
    if col is None or not await db.fetch("SELECT 1 AS x FROM feedback LIMIT 1"):
        return {}
    # CROSS JOIN: SQLite walks the (small) feedback table first, PostgreSQL plans freely.
    rows = await db.fetch(
        f"SELECT {col} AS g, AVG(f.score) AS score, COUNT(*) AS n FROM feedback f "
        f"CROSS JOIN request_log l WHERE l.id = f.request_id AND l.ts >= $1 AND l.ts < $2 GROUP BY {col}",
        since,
        until,
    )
    return {r["g"]: {"mean_score": round(float(r["score"]), 4), "count": int(r["n"])} for r in rows}


def _recommend(
    by_rm: dict[str, dict[str, Any]],
    since: float,
    until: float,
    prices: Mapping[str, Prices],
    *,
    min_requests: int = 20,
    min_share: float = 0.75,
) -> list[dict[str, Any]]:
    """Per route: a cheaper model whose requests met the floor (no error, constraint met) often
    enough, and what sending the route's traffic there would save per month at this volume."""
    routes: dict[str, dict[str, Any]] = {}
    for key, acc in by_rm.items():
        route, _, model = key.partition(rollup.SEP)
        if not route:
            continue
        routes.setdefault(route, {})[model] = acc
    scale = MONTH_S / (until - since)
    out = []
    for route, models in sorted(routes.items()):
        spend = sum(a["cost_usd"] for a in models.values())
        usage = Usage(
            sum(a["input_tokens"] for a in models.values()),
            sum(a["output_tokens"] for a in models.values()),
            sum(a["cached_tokens"] for a in models.values()),
        )
        best = None
        for model, a in models.items():
            if model not in prices or a["requests"] < min_requests:
                continue
            share = (a["requests"] - max(a["unmet"], 0) - a["errors"]) / a["requests"]
            if share < min_share:
                continue
            cost = prices[model].cost(usage)
            saves = (spend - cost) * scale
            if saves > 0 and (best is None or saves > best["saves_usd_per_month"]):
                best = {
                    "route": route,
                    "model": model,
                    "share_met": round(share, 4),
                    "requests": a["requests"],
                    "saves_usd_per_month": round(saves, 2),
                }
        if best:
            best["message"] = (
                f"route {route}: {best['share_met']:.0%} of requests met the floor on model "
                f"{best['model']}; sending them there saves ${best['saves_usd_per_month']:,.2f} a month"
            )
            out.append(best)
    return out


async def compare_arms(db: Database, *, since: float | None = None, until: float | None = None) -> dict[str, Any]:
    """The gradual-rollout arms side by side: cost, latency, feedback score."""
    s = await summary(db, since=since, until=until, group_by="arm")
    return {
        g["group"] or "(none)": {
            "requests": g["requests"],
            "spend_usd": g["spend_usd"],
            "cost_per_request_usd": round(g["spend_usd"] / g["requests"], 8) if g["requests"] else None,
            "latency_p50_ms": g["latency_ms"]["p50"],
            "latency_p95_ms": g["latency_ms"]["p95"],
            "error_rate": g["error_rate"],
            "feedback": g.get("feedback"),
        }
        for g in s["groups"]
    }
