"""The request log's ``extra``: what failover did, every attempt, and the routing explanation.

The explanation is the plan's constraints and each candidate's predictions (quality, p95
latency, cost, within limits, meets the floor, or why it was excluded), rounded, so a
request's dashboard page can show why its plan won without re-running the router.
"""

from __future__ import annotations

from typing import Any

from .charge import failover_facts
from .context import RequestContext

MAX_CANDIDATES = 24  # a route over the whole catalogue keeps its explanation bounded


def _round(v: Any) -> Any:
    """JSON-plain values (numpy scalars from the router become Python numbers)."""
    if isinstance(v, (list, tuple)):
        return [_round(x) for x in v]
    if isinstance(v, (str, type(None), bool, dict)):
        return v
    if hasattr(v, "item"):  # a numpy scalar
        v = v.item()
    return round(v, 6) if isinstance(v, float) else v


def explanation(plan: Any) -> dict[str, Any] | None:
    """The plan's constraints, candidates and choice; None for requests no route planned."""
    cands = getattr(plan, "candidates", None)
    cons: Any = getattr(plan, "constraints", None)
    if not cands and cons is None:
        return None
    return {
        "route": getattr(plan, "route", ""),
        "chosen": list(getattr(plan, "models", []) or []),
        "kind": getattr(plan, "kind", None),
        "explored": bool(getattr(plan, "explored", False)),
        "constraints": cons.as_dict() if hasattr(cons, "as_dict") else None,
        "candidates": [
            {k: _round(v) for k, v in c.items()} for c in (cands or [])[:MAX_CANDIDATES] if isinstance(c, dict)
        ],
    }


def record_facts(ctx: RequestContext) -> dict[str, Any] | None:
    """The ``extra`` of a request's log record (``None``: nothing worth keeping)."""
    facts = failover_facts(ctx) or {}
    if ctx.attempts and "attempts" not in facts:
        facts["attempts"] = [
            {"deployment": a.deployment, "model": a.model, "status": a.status, "cost_usd": a.cost_usd}
            for a in ctx.attempts
        ]
    for a, attempt in zip(facts.get("attempts", []), ctx.attempts):
        a["latency_ms"] = round(attempt.latency_ms, 1)
    plan = explanation(ctx.plan)
    if plan is not None:
        facts["plan"] = plan
    return facts or None
