"""Experiment analytics: one experiment's request-log rows per arm, with their feedback score.

Plain SQL that runs on SQLite and PostgreSQL alike (``$n`` parameters, as everywhere in
``storage``); the statistics are ``routing/experiment_stats.py``'s, applied by the caller.
"""

from __future__ import annotations

from typing import Any

from .db import Database

_SQL = (
    "SELECT l.experiment_arm AS arm, l.cost_usd, l.latency_ms, l.status, l.constraint_unmet, "
    "(SELECT AVG(f.score) FROM feedback f WHERE f.request_id = l.id) AS score "
    "FROM request_log l WHERE l.experiment = $1 AND l.ts >= $2 AND l.ts < $3 ORDER BY l.ts"
)


async def experiment_rows(db: Database, name: str, since: float, until: float) -> dict[str, list[dict[str, Any]]]:
    """Arm name -> its rows (``cost_usd``, ``latency_ms``, ``status``, ``constraint_unmet``, ``score``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in await db.fetch(_SQL, name, since, until):
        out.setdefault(r["arm"] or "", []).append(dict(r))
    return out
