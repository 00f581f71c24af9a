"""What each rule kind checks, read from the request log's rollups (``storage.analytics``).

``evaluate(rule, db, now, facts)`` returns the subjects for which the condition holds now
(empty: it does not). A subject is what the rule is about: ``all``, a key id, a team, a
model, a route or a deployment. Only bounded facts go into a finding: names and numbers.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from ..config import RuleConfig
from ..storage.analytics import summary
from ..storage.db import Database

RATE_FIELDS = {
    "error_rate": "error_rate",
    "fallback_rate": "fallback_rate",
    "constraint_unmet_rate": "constraint_unmet_rate",
}
ADJ = {"day": "daily", "week": "weekly", "month": "monthly"}
GROUP_BY = {"all": "model", "key": "key", "model": "model", "route": "route"}


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str
    value: float
    text: str


async def _no_budget(scope: str, value: str) -> tuple[float, str] | None:
    return None


@dataclass(slots=True)
class Facts:
    """What a rule may read besides the database (given by the gateway)."""

    breakers: Callable[[], Iterable[tuple[str, str]]] = tuple  # (deployment, state)
    spilling: Callable[[], bool] = lambda: False
    # (scope, value) -> (budget in USD, "day" | "month"), or None when no budget is set there;
    # awaited: a key's or team's budget may live in the key database.
    budget_of: Callable[[str, str], Awaitable[tuple[float, str] | None]] = _no_budget
    extra: dict[str, float] = field(default_factory=dict)


def period_start(period: str, now: float) -> float:
    """The start of the calendar day, week (Monday) or month (UTC) containing ``now``."""
    t = _dt.datetime.fromtimestamp(now, _dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        t -= _dt.timedelta(days=t.weekday())
    elif period == "month":
        t = t.replace(day=1)
    return t.timestamp()


async def spend(db: Database, scope: str, value: str | None, since: float, until: float) -> float:
    if scope == "team":
        v = await db.fetchval(
            "SELECT SUM(cost_usd) FROM request_log WHERE team = $1 AND ts >= $2 AND ts < $3", value, since, until
        )
        return float(v or 0.0)
    s = await summary(db, since=since, until=until, group_by=GROUP_BY[scope])
    if scope == "all":
        return float(s["total"]["spend_usd"])
    return next((float(g["spend_usd"]) for g in s["groups"] if g["group"] == value), 0.0)


async def _window(db: Database, rule: RuleConfig, now: float) -> dict | None:
    """The summary of the rule's window and scope, or None below ``min_requests``."""
    scope = rule.scope  # never "team" (refused by RuleConfig: the rollup has no team dimension)
    s = await summary(db, since=now - rule.window_s, until=now, group_by=GROUP_BY[scope])
    if scope == "all":
        part = s["total"]
    else:
        part = next((g for g in s["groups"] if g["group"] == rule.value), None)
    if part is None or part["requests"] < max(1, rule.min_requests):
        return None
    return part


async def evaluate(rule: RuleConfig, db: Database, now: float, facts: Facts) -> list[Finding]:
    subject = rule.value or "all"
    k = rule.kind
    if k == "spend":
        v = await spend(db, rule.scope, rule.value, period_start(rule.period, now), now + 0.001)
        if v > rule.threshold:
            return [Finding(subject, v, f"spend this {rule.period} is ${v:.6f}, over ${rule.threshold:g}")]
    elif k == "budget":
        budget = await facts.budget_of(rule.scope, subject)
        if budget is not None and budget[0] > 0:
            v = await spend(db, rule.scope, rule.value, period_start(budget[1], now), now + 0.001)
            pct = 100.0 * v / budget[0]
            if pct >= rule.threshold:
                return [Finding(subject, pct, f"{pct:.1f}% of the {ADJ[budget[1]]} budget ${budget[0]:g} spent")]
    elif k in RATE_FIELDS:
        part = await _window(db, rule, now)
        rate = part.get(RATE_FIELDS[k]) if part is not None else None
        if rate is not None and rate > rule.threshold:
            what = k.replace("_", " ")
            return [
                Finding(subject, rate, f"{what} {rate:.1%} over {rule.threshold:.1%} in the last {rule.window_s:g} s")
            ]
    elif k == "latency_p95":
        part = await _window(db, rule, now)
        p95 = part["latency_ms"]["p95"] if part is not None else None
        if p95 is not None and p95 > rule.threshold:
            return [Finding(subject, p95, f"p95 latency {p95:.0f} ms over {rule.threshold:g} ms")]
    elif k == "breaker_open":
        return [
            Finding(dep, 1.0, f"circuit breaker of deployment {dep} is open")
            for dep, state in facts.breakers()
            if state == "open" and (rule.value is None or rule.value == dep)
        ]
    elif k == "log_spill" and facts.spilling():
        return [Finding("request_log", 1.0, "the request log is spilling to its file (database unreachable)")]
    return []
