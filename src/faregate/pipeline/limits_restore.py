"""Rebuild spend counters from the request log at start-up, for a limit store that forgets.

The in-memory limit store (the default, ``memory://``) loses every counter when the process
stops, so an exhausted daily budget would be whole again after a restart. The request log
already holds each request's reconciled cost with its key, team and requested model, so the
gateway reads it back once before it serves (``storage.spend``) and adds it to the counters
the limits step uses: calendar budgets (``budget_usd_day``, ``budget_usd_month``) and the
rolling cost windows (``cost_usd_hour``, ``cost_usd_day``, into the slots the requests fell
in). No database write is added per request. Request-count and token windows (rpm, rph, rpd,
tpm) and concurrency leases are not rebuilt: they start empty (see docs/operations.md).
A durable store (Redis) keeps its own counters and is left alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import UTC, datetime

from ..limits.base import SLOTS, USD, Limit, LimitStore
from ..storage.db import Database
from ..storage.spend import Spend, spend_since

log = logging.getLogger("faregate.limits")

CALENDARS = (("budget_usd_day", "day"), ("budget_usd_month", "month"))
ROLLING = (("cost_usd_hour", 3600.0), ("cost_usd_day", 86400.0))


def _scopes(s: Spend) -> list[str]:
    """The limit scopes a row was charged to (as ``LimitsStep`` names them)."""
    out = []
    if s.key_id:
        out.append(f"key:{s.key_id}")
    if s.team:
        out.append(f"team:{s.team}")
    if s.model:
        out.append(f"model:{s.model}")
    return out


def _nano(usd: float) -> int:
    return int(math.ceil(max(0.0, usd) * USD))


def _period_start(cal: str, now: float) -> float:
    """Epoch seconds when the UTC calendar period that contains ``now`` began."""
    d = datetime.fromtimestamp(now, tz=UTC)
    start = datetime(d.year, d.month, d.day if cal == "day" else 1, tzinfo=UTC)
    return start.timestamp()


async def restore_spend(store: LimitStore, db: Database, now: float | None = None) -> dict[str, int]:
    """Add the spend the request log holds to ``store``'s counters; returns how many counters
    were rebuilt, per kind. A durable store is left alone."""
    if store.durable:
        return {}
    now = time.time() if now is None else now
    periods: dict[str, int] = defaultdict(int)
    slots: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for field, cal in CALENDARS:
        for s in await spend_since(db, _period_start(cal, now)):
            for scope in _scopes(s):
                periods[Limit(f"{scope}:{field}", 0, calendar=cal).storage_key(now)] += _nano(s.cost_usd)
    for field, window in ROLLING:
        lim = Limit("", 0, window)
        slot_s = lim.slot_s()
        first_live_slot = math.floor(now / slot_s) - (SLOTS - 1)  # the window's oldest slot
        for s in await spend_since(db, first_live_slot * slot_s, bucket_s=slot_s):
            for scope in _scopes(s):
                slots[f"{scope}:{field}"][s.bucket] += _nano(s.cost_usd)
    await store.restore(periods, slots)
    return {"calendar": len(periods), "rolling": len(slots)}


async def restore_from_log(store: LimitStore, database_url: str) -> None:
    """``restore_spend`` from the request log at ``database_url``; a failure is logged, never
    raised (the gateway still starts, with the counters empty, as before)."""
    if store.durable or not database_url:
        return
    try:
        db = await Database.open(database_url)
    except Exception as exc:  # noqa: BLE001 - no log to read: start with empty counters
        log.warning("spend counters not rebuilt: the request log is unreachable (%s)", exc)
        return
    try:
        await db.migrate("request_log")
        n = await restore_spend(store, db)
        if n.get("calendar") or n.get("rolling"):
            log.info("spend counters rebuilt from the request log: %s", n)
    except Exception as exc:  # noqa: BLE001
        log.warning("spend counters not rebuilt from the request log: %s", exc)
    finally:
        await db.close()
