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
from collections.abc import Iterable
from typing import Any

NBINS = 60
EDGES = [2 ** (i / 3) for i in range(NBINS)]  # upper edges in ms; EDGES[-1] ~ 1,000,000 ms
DIMS = ("all", "model", "key", "route", "task", "arm", "route_model")
SEP = "\x1f"
COUNTERS = (
    "requests",
    "errors",
    "fallbacks",
    "cache_hits",
    "unmet",
    "disconnects",
    "ceiling_n",
    "ceiling_met",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "latency_sum",
    "ttft_n",
    "cache_saved_usd",
)
HIST_COLS = tuple(f"l{i}" for i in range(NBINS)) + tuple(f"t{i}" for i in range(NBINS))
ALL_COLS = COUNTERS + HIST_COLS

TABLES = {3600: "request_rollup", 86400: "request_rollup_day"}  # bucket span (s) -> table


def upsert_sql(table: str) -> str:
    return (
        "INSERT INTO "
        + table
        + " (hour, dim, value, "
        + ", ".join(ALL_COLS)
        + ") VALUES ("
        + ", ".join(f"${i + 1}" for i in range(3 + len(ALL_COLS)))
        + ") ON CONFLICT (hour, dim, value) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in ALL_COLS)
    )


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
    return _dims(
        r.get("model") or r.get("requested_model") or "",
        r.get("key_id") or "",
        r.get("route") or "",
        r.get("task") or "",
        r.get("arm") or "",
    )


def _dims(model: str, key_id: str, route: str, task: str, arm: str) -> list[tuple[str, str]]:
    return [
        ("all", ""),
        ("model", model),
        ("key", key_id),
        ("route", route),
        ("task", task),
        ("arm", arm),
        ("route_model", route + SEP + model),
    ]


def add_row(acc: dict[str, Any], r: dict[str, Any]) -> None:
    """Add one log row (a dict of request_log columns) to an accumulator (a dict of ALL_COLS)."""
    acc["requests"] += 1
    if r["status"] >= 400 or r.get("error_class"):
        acc["errors"] += 1
    acc["fallbacks"] += 1 if r.get("fallback_used") else 0
    acc["cache_hits"] += 1 if r.get("cache_hit") else 0
    acc["cache_saved_usd"] += r.get("cache_saved_usd") or 0.0
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
    d["cache_saved_usd"] = 0.0
    return d


_COL = {c: i for i, c in enumerate(ALL_COLS)}
_REQ, _ERR, _FB, _CH, _UNMET, _DISC, _CN, _CMET, _IN, _OUT, _CACHED, _COST, _LSUM, _TN, _SAVED = (
    _COL[c] for c in COUNTERS
)
_L0, _T0 = _COL["l0"], _COL["t0"]
_FLOATS = (_COST, _LSUM, _SAVED)


def _zeros() -> list:
    acc: list = [0] * len(ALL_COLS)
    for i in _FLOATS:
        acc[i] = 0.0
    return acc


class Accumulator:
    """The rollup deltas of a batch of ``RequestRecord``s, added a slice at a time.

    Records with the same hour and the same dim values (most of a batch) are summed into one
    accumulator, with a handful of list increments per record; only ``statements()`` spreads
    each sum over its 7 dims x 2 spans. The result is what ``add_row`` per record and dim gives.
    """

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[tuple, list] = {}

    def add(self, records: Iterable[Any]) -> None:
        groups = self.groups
        for r in records:
            ts = r.ts
            key = (
                int(ts // 3600) * 3600,
                r.model or r.requested_model or "",
                r.key_id or "",
                r.route or "",
                r.task or "",
                r.arm or "",
            )
            acc = groups.get(key)
            if acc is None:
                acc = groups[key] = _zeros()
            acc[_REQ] += 1
            if r.status >= 400 or r.error_class:
                acc[_ERR] += 1
            if r.fallback_used:
                acc[_FB] += 1
            if r.cache_hit:
                acc[_CH] += 1
                acc[_SAVED] += r.cache_saved_usd or 0.0
            if r.constraint_unmet:
                acc[_UNMET] += 1
            if r.client_disconnect:
                acc[_DISC] += 1
            if r.latency_met is not None:
                acc[_CN] += 1
                if r.latency_met:
                    acc[_CMET] += 1
            acc[_IN] += r.input_tokens or 0
            acc[_OUT] += r.output_tokens or 0
            acc[_CACHED] += r.cached_tokens or 0
            acc[_COST] += r.cost_usd or 0.0
            lat = r.latency_ms or 0.0
            acc[_LSUM] += lat
            acc[_L0 + bin_of(lat)] += 1
            if r.ttft_ms is not None:
                acc[_TN] += 1
                acc[_T0 + bin_of(r.ttft_ms)] += 1

    def statements(self) -> list[tuple[str, list[tuple]]]:
        """The upserts for ``Database.batch``: one (sql, parameter rows) per span."""
        out = []
        for span in TABLES:
            agg: dict[tuple[int, str, str], list] = {}
            for (hour, *dims), g in self.groups.items():
                bucket = hour // span * span
                for dim, value in _dims(*dims):
                    k = (bucket, dim, value)
                    acc = agg.get(k)
                    if acc is None:
                        agg[k] = g.copy()
                    else:
                        for i, v in enumerate(g):
                            if v:
                                acc[i] += v
            out.append((UPSERTS[span], [(h, d, v, *acc) for (h, d, v), acc in agg.items()]))
        return out


def statements(records: Iterable[Any]) -> list[tuple[str, list[tuple]]]:
    """The rollup upserts (hourly and daily) for a batch of ``RequestRecord``s."""
    acc = Accumulator()
    acc.add(records)
    return acc.statements()
