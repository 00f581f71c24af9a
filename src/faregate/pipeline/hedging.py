"""Hedged first bytes: when to start a second call while the first has sent nothing yet.

The hedge delay of a call is, whichever is sooner: the deployment's observed p95 time to first
content times ``failover.hedge_p95_factor`` (once it has ``hedge_min_samples`` samples), or the
request's own latency ceiling; with neither, ``failover.hedge_default_s``. It is never shorter
than ``failover.hedge_min_s``. The executor schedules the hedge timer only when it can fire:
hedging is on, the request may be sent twice (not marked ``idempotent: false``), the delay ends
before the call's own first-byte timeout and the deadline, and a second candidate exists.
A request may be sent twice unless it says ``faregate: {idempotent: false}`` or its key is
marked ``idempotent: false`` (config keys, or database keys through the admin API and CLI).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..config import FailoverConfig
from .context import RequestContext

_SAMPLES = 200  # per deployment and mode: enough for a p95, little memory


@dataclass(slots=True)
class TtftHistory:
    """Recent times to first content (whole answers for non-streaming calls), per deployment and mode."""

    samples: dict[tuple[str, bool], deque[float]] = field(default_factory=dict)

    def observe(self, dep_id: str, stream: bool, seconds: float) -> None:
        q = self.samples.get((dep_id, stream))
        if q is None:
            q = self.samples[(dep_id, stream)] = deque(maxlen=_SAMPLES)
        q.append(seconds)

    def p95(self, dep_id: str, stream: bool, min_samples: int) -> float | None:
        q = self.samples.get((dep_id, stream))
        if q is None or len(q) < min_samples:
            return None
        ordered = sorted(q)
        return ordered[int(0.95 * (len(ordered) - 1))]


def latency_ceiling_s(ctx: RequestContext) -> float | None:
    """The request's latency ceiling (a route's or the request's ``max_latency_ms``), in seconds."""
    cons = getattr(ctx.plan, "constraints", None)
    ms = getattr(cons, "max_latency_ms", None)
    if ms is None and ctx.request.routing:
        ms = ctx.request.routing.get("max_latency_ms")
    return float(ms) / 1000.0 if isinstance(ms, int | float) and ms > 0 else None


def hedge_delay_s(fo: FailoverConfig, p95: float | None, ceiling: float | None) -> float:
    """The hedge delay (see the module docstring)."""
    options = [x for x in (p95 * fo.hedge_p95_factor if p95 is not None else None, ceiling) if x is not None]
    delay = min(options) if options else fo.hedge_default_s
    return max(fo.hedge_min_s, delay)


def may_hedge(ctx: RequestContext, fo: FailoverConfig) -> bool:
    """Hedging is on, not used yet in this request, and the request may be sent twice."""
    if not fo.hedge or ctx.hedged:
        return False
    return sendable_twice(ctx)


def sendable_twice(ctx: RequestContext) -> bool:
    """Neither the request nor its key is marked ``idempotent: false``."""
    if ctx.principal is not None and not ctx.principal.idempotent:
        return False
    routing = ctx.request.routing or {}
    return routing.get("idempotent") is not False
