"""The request list (filtered, newest first, paginated by keyset) and one request's record.

Pages never count or offset: each page asks for ``PAGE + 1`` rows older than the last one
shown (``(ts, id)`` below the cursor), through the ``ts`` (or ``(key_id, ts)``) index, so the
thousandth page costs what the first does. Filters: key, model (the one that answered, or the
one asked for), route, status (``2xx``/``4xx``/``5xx`` or a code), cache (``hit``, ``miss``,
or a kind: ``exact``, ``semantic``, ``coalesced``) and the period.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..storage.db import Database
from ..storage.request_record import RequestRecord
from .periods import Period

PAGE = 50
FILTERS = ("key", "model", "route", "status", "cache")
LIST_COLS = (
    "id, ts, key_id, route, requested_model, model, status, error_class, cache_hit, cache_kind, "
    "fallback_used, constraint_unmet, cost_usd, latency_ms, input_tokens, output_tokens"
)
CACHE_KINDS = ("exact", "semantic", "coalesced")


class BadFilter(ValueError):
    """A filter value the list cannot apply; the message says what is accepted."""


def _status_clause(v: str, arg: str) -> tuple[str, list[Any]]:
    if v in ("2xx", "3xx", "4xx", "5xx"):
        lo = int(v[0]) * 100
        return f"status >= {arg} AND status < {lo + 100}", [lo]
    if v.isdigit() and 100 <= int(v) <= 599:
        return f"status = {arg}", [int(v)]
    raise BadFilter(f"status must be 2xx, 4xx, 5xx or a code like 429; got {v[:20]!r}")


def _cache_clause(v: str, arg: str) -> tuple[str, list[Any]]:
    if v == "hit":
        return "cache_hit = 1", []
    if v == "miss":
        return "cache_hit = 0", []
    if v in CACHE_KINDS:
        return f"cache_kind = {arg}", [v]
    raise BadFilter(f"cache must be hit, miss, {', '.join(CACHE_KINDS)}; got {v[:20]!r}")


def where(filters: Mapping[str, str], period: Period, cursor: tuple[float, str] | None) -> tuple[str, list[Any]]:
    """The WHERE clause (``$n`` placeholders) and its arguments."""
    clauses: list[str] = ["ts >= $1", "ts < $2"]
    args: list[Any] = [period.since, period.until]

    def arg() -> str:
        return f"${len(args) + 1}"

    for name in FILTERS:
        v = (filters.get(name) or "").strip()[:200]
        if not v:
            continue
        if name == "status":
            c, a = _status_clause(v, arg())
        elif name == "cache":
            c, a = _cache_clause(v, arg())
        elif name == "model":
            c, a = f"(model = {arg()} OR requested_model = {arg()})", [v]
        else:
            c, a = f"{'key_id' if name == 'key' else name} = {arg()}", [v]
        clauses.append(c)
        args += a
    if cursor is not None:
        ts_at, id_at = arg(), f"${len(args) + 2}"
        clauses.append(f"(ts < {ts_at} OR (ts = {ts_at} AND id < {id_at}))")
        args += [cursor[0], cursor[1]]
    return " AND ".join(clauses), args


def parse_cursor(raw: str | None) -> tuple[float, str] | None:
    """``<ts>~<id>``: the last row of the previous page."""
    if not raw:
        return None
    ts, sep, id_ = raw.partition("~")
    try:
        value = float(ts)
    except ValueError:
        value = float("nan")
    if not sep or not id_ or value != value or len(id_) > 200:
        raise BadFilter("before must be the cursor of a page link (<ts>~<request id>)")
    return value, id_


async def page(
    db: Database, filters: Mapping[str, str], period: Period, cursor: tuple[float, str] | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of rows, newest first, and the cursor of the next page (None: the last page)."""
    clause, args = where(filters, period, cursor)
    sql = f"SELECT {LIST_COLS} FROM request_log WHERE {clause} ORDER BY ts DESC, id DESC LIMIT {PAGE + 1}"
    rows = [dict(r) for r in await db.fetch(sql, *args)]
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    nxt = f"{rows[-1]['ts']!r}~{rows[-1]['id']}" if more and rows else None
    return rows, nxt


async def one(db: Database, request_id: str) -> dict[str, Any] | None:
    """Everything logged for one request, and its feedback."""
    row = await db.fetchrow("SELECT * FROM request_log WHERE id = $1", request_id)
    if row is None:
        return None
    rec = RequestRecord.from_row(dict(row))
    fb = await db.fetchrow("SELECT score, comment, ts FROM feedback WHERE request_id = $1", request_id)
    extra = rec.extra or {}
    return {
        "record": rec,
        "explanation": extra.get("plan"),
        "attempts": extra.get("attempts") or [],
        "failover": {k: v for k, v in extra.items() if k not in ("plan", "attempts")},
        "feedback": dict(fb) if fb is not None else None,
        "extra_json": orjson.dumps(extra, option=orjson.OPT_INDENT_2).decode() if extra else "",
    }
