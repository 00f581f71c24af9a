"""Spend read back from the request log: what each key, team and requested model was charged.

The limits step reconciles every reservation to the request's actual cost, and the request
log stores that cost in the same row, so the log is a durable copy of every spend counter.
The gateway reads it once at start-up to rebuild counters an in-memory limit store lost
(``pipeline/limits_restore.py``); nothing is written per request for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .db import Database


@dataclass(frozen=True, slots=True)
class Spend:
    """The cost charged to one (key, team, requested model), in one time bucket."""

    key_id: str | None
    team: str | None
    model: str | None
    cost_usd: float
    bucket: int = 0  # ``floor(ts / bucket_s)`` when bucketed; 0 otherwise


async def spend_since(db: Database, since: float, *, bucket_s: float | None = None) -> list[Spend]:
    """Cost per (key, team, requested model) of the rows at or after ``since``; per
    ``bucket_s``-second bucket too when given (for sliding windows)."""
    if bucket_s is None:
        rows = await db.fetch(
            "SELECT key_id, team, requested_model, SUM(cost_usd) AS cost FROM request_log "
            "WHERE ts >= $1 AND cost_usd > 0 GROUP BY key_id, team, requested_model",
            since,
        )
        return [Spend(r["key_id"], r["team"], r["requested_model"], float(r["cost"] or 0.0)) for r in rows]
    # floor() of a positive double: SQLite's CAST truncates, PostgreSQL has FLOOR.
    bucket = "CAST(ts / $2 AS INTEGER)" if db.dialect == "sqlite" else "CAST(FLOOR(ts / $2) AS BIGINT)"
    rows = await db.fetch(
        f"SELECT key_id, team, requested_model, {bucket} AS bucket, SUM(cost_usd) AS cost FROM request_log "
        f"WHERE ts >= $1 AND cost_usd > 0 GROUP BY key_id, team, requested_model, {bucket}",
        since,
        float(bucket_s),
    )
    return [
        Spend(r["key_id"], r["team"], r["requested_model"], float(r["cost"] or 0.0), int(r["bucket"])) for r in rows
    ]
