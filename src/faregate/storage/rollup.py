"""The hourly rollup the log writer maintains next to ``request_log`` (same transaction).

One row per (hour, dim, value) with additive counters and two fixed-bucket histograms
(latency, time to first token), so any summary is a SUM over a few thousand rows and
percentiles come from the summed histograms. Bucket ``i`` holds values in
``[EDGES[i-1], EDGES[i])`` ms, ``EDGES[i] = 2 ** (i / 3)`` (about 26% wide); the last bucket
is open-ended (over ~16 minutes).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from typing import Any, Iterable

NBINS = 60
EDGES = [2 ** (i / 3) for i in range(NBINS)]  # upper edges in ms; EDGES[-1] ~ 1,000,000 ms
DIMS = ("all", "model", "key", "route", "task", "arm", "route_model")
SEP = "\x1f"
COUNTERS = ("requests", "errors", "fallbacks", "cache_hits", "unmet", "disconnects", "ceiling_n",
            "ceiling_met", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "latency_sum", "ttft_n")
HIST_COLS = tuple(f"l{i}" for i in range(NBINS)) + tuple(f"t{i}" for i in range(NBINS))
ALL_COLS = COUNTERS + HIST_COLS

TABLES = {3600: "request_rollup", 86400: "request_rollup_day"}  # bucket span (s) -> table


def upsert_sql(table: str) -> str:
    return ("INSERT INTO " + table + " (hour, dim, value, " + ", ".join(ALL_COLS) + ") VALUES ("
            + ", ".join(f"${i + 1}" for i in range(3 + len(ALL_COLS))) + ") ON CONFLICT (hour, dim, value) DO UPDATE SET "
            + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ALL_COLS))


UPSERTS = {span: upsert_sql(t) for span, t in TABLES.items()}


def bin_of(ms: float) -> int:
    if ms is None or ms < 1 or math.isnan(ms):
        return 0
    return min(bisect.bisect_right(EDGES, ms), NBINS - 1)


def bin_value(i: int) -> float:
    """A representative value of bucket ``i`` (geometric middle)."""
    lo = EDGES[i - 1] if i > 0 else 0.0
    hi = EDGES[i] if i < NBINS - 1 else EDGES[-1] * 1.26
    return math.sqrt(max(lo, 0.5) * hi) if i > 0 else 0.5


def percentile(hist: list[int], q: float) -> float | None:
    total = sum(hist)
    if total == 0:
        return None
    target = q * total
    acc = 0
    for i, n in enumerate(hist):
        acc += n
        if acc >= target and n:
            return round(bin_value(i), 1)
    return round(bin_value(NBINS - 1), 1)


def dim_values(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dim, value) pairs one log row contributes to."""
    model = r.get("model") or r.get("requested_model") or ""
    route = r.get("route") or ""
    return [("all", ""), ("model", model), ("key", r.get("key_id") or ""), ("route", route),
            ("task", r.get("task") or ""), ("arm", r.get("arm") or ""), ("route_model", route + SEP + model)]


def add_row(acc: dict[str, Any], r: dict[str, Any]) -> None:
    """Add one log row (a dict of request_log columns) to an accumulator (a dict of ALL_COLS)."""
    acc["requests"] += 1
    if r["status"] >= 400 or r.get("error_class"):
        acc["errors"] += 1
    acc["fallbacks"] += 1 if r.get("fallback_used") else 0
    acc["cache_hits"] += 1 if r.get("cache_hit") else 0
    acc["unmet"] += 1 if r.get("constraint_unmet") else 0
    acc["disconnects"] += 1 if r.get("client_disconnect") else 0
    if r.get("latency_met") is not None:
        acc["ceiling_n"] += 1
        acc["ceiling_met"] += 1 if r["latency_met"] else 0
    acc["input_tokens"] += r.get("input_tokens") or 0
    acc["output_tokens"] += r.get("output_tokens") or 0
    acc["cached_tokens"] += r.get("cached_tokens") or 0
    acc["cost_usd"] += r.get("cost_usd") or 0.0
    lat = r.get("latency_ms") or 0.0
    acc["latency_sum"] += lat
    acc[f"l{bin_of(lat)}"] += 1
    if r.get("ttft_ms") is not None:
        acc["ttft_n"] += 1
        acc[f"t{bin_of(r['ttft_ms'])}"] += 1


def empty() -> dict[str, Any]:
    d: dict[str, Any] = dict.fromkeys(ALL_COLS, 0)
    d["cost_usd"] = 0.0
    d["latency_sum"] = 0.0
    return d


def contribution(r: dict[str, Any]) -> list[tuple[str, Any]]:
    """What one log row adds to each accumulator it belongs to, as (column, amount) pairs: the
    non-zero part of ``add_row``, computed once per row rather than once per dim."""
    acc: defaultdict[str, Any] = defaultdict(int)
    add_row(acc, r)
    return [(c, v) for c, v in acc.items() if v]


def deltas(rows: list[dict[str, Any]], span: int = 3600,
           contributions: list[list[tuple[str, Any]]] | None = None) -> list[tuple]:
    """Upsert parameter tuples for a batch of log rows (aggregated per bucket/dim/value first).

    Rows with the same bucket and the same dim values (most of a batch) are summed once, then
    each sum is added to its dims' accumulators."""
    if contributions is None:
        contributions = [contribution(r) for r in rows]
    groups: dict[tuple, dict[str, Any]] = {}
    for r, contrib in zip(rows, contributions):
        key = (int(r["ts"] // span) * span, tuple(dim_values(r)))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {}
        for col, amount in contrib:
            g[col] = g.get(col, 0) + amount
    agg: dict[tuple[int, str, str], dict[str, Any]] = {}
    for (bucket, dvs), g in groups.items():
        for dim, value in dvs:
            k = (bucket, dim, value)
            acc = agg.get(k)
            if acc is None:
                acc = agg[k] = empty()
            for col, amount in g.items():
                acc[col] += amount
    return [(h, d, v, *(acc[c] for c in ALL_COLS)) for (h, d, v), acc in agg.items()]


def statements(rows: list[dict[str, Any]]) -> list[tuple[str, list[tuple]]]:
    """The rollup upserts (hourly and daily) for a batch, for ``Database.batch``; each row's
    contribution is computed once and added to its 7 dims x 2 spans."""
    aggs: dict[int, dict[tuple[int, str, str], dict[str, Any]]] = {span: {} for span in TABLES}
    for r in rows:
        contrib = contribution(r)
        dvs = dim_values(r)
        for span, agg in aggs.items():
            bucket = int(r["ts"] // span) * span
            for dim, value in dvs:
                k = (bucket, dim, value)
                acc = agg.get(k)
                if acc is None:
                    acc = agg[k] = empty()
                for col, inc in contrib:
                    acc[col] += inc
    return [(UPSERTS[span], [(h, d, v, *(acc[c] for c in ALL_COLS)) for (h, d, v), acc in agg.items()])
            for span, agg in aggs.items()]
