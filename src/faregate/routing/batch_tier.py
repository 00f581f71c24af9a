"""The batch tier as a routing target: a request that can wait may be answered through a
provider's batch API at its discount.

Only an explicit deadline opens the tier (``faregate.deadline`` or a route's ``deadline``),
never ``max_latency_ms``: a synchronous client is never handed a 202. The tier is eligible when
the caller can take a deferred answer (``PlanRequest.batch_ok``), the request does not stream,
the batch tier is on and its turnaround fits the deadline. Each single-model candidate whose
model's batch lines get a discount (its ``batch_discount``, the share off the list price, where
the provider's batch API runs them: ``config.batch_way``) gets a batch twin: the same quality,
its cost less the discount,
the turnaround as its latency. The batch plan is chosen by the request's mode among the twins
(the deadline, not ``max_latency_ms``, bounds their latency) and taken only when it meets the
floor and costs less than the synchronous plan (or the synchronous plan misses a constraint).
Pure: everything comes in as arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .constraints import Constraints
from .mode_select import select_mode
from .policy import Candidate


@dataclass(frozen=True)
class BatchChoice:
    """The batch twins, the one chosen (None: the synchronous plan stands) and why not."""

    twins: list[Candidate]
    chosen: Candidate | None
    reason: str


def ineligible(cons: Constraints, stream: bool, batch_ok: bool, turnaround_s: float | None) -> str | None:
    """Why the batch tier cannot take this request, or None when it may."""
    if cons.deadline_s is None:
        return "no deadline"
    if turnaround_s is None:
        return "the batch tier is off (batch_tier.enabled)"
    if stream:
        return "a streamed request is answered synchronously"
    if not batch_ok:
        return (
            "this request is answered synchronously (the batch plan serves /v1/chat/completions, "
            "on routes not in a gradual rollout or an experiment)"
        )
    if turnaround_s > cons.deadline_s:
        return f"the deadline ({cons.deadline_s:g} s) is shorter than the batch turnaround ({turnaround_s:g} s)"
    return None


def twins(cands: list[Candidate], discounts: Mapping[str, float], turnaround_s: float) -> list[Candidate]:
    """A batch twin of each single-model candidate whose batch lines get a discount (share off)."""
    out = []
    for c in cands:
        off = discounts.get(c.models[0], 0.0) if len(c.models) == 1 else 0.0
        if not off:
            continue
        cost = c.cost_usd * (1.0 - off)
        out.append(Candidate(c.models, c.quality, cost, turnaround_s * 1000.0, None, cost, p_meet=c.p_meet))
    return out


def consider(
    cands: list[Candidate],
    sync: Candidate,
    sync_unmet: bool,
    cons: Constraints,
    discounts: Mapping[str, float],
    *,
    stream: bool,
    batch_ok: bool,
    turnaround_s: float | None,
) -> BatchChoice:
    """The batch twins of ``cands`` and the batch plan when it beats ``sync`` (see the module)."""
    why = ineligible(cons, stream, batch_ok, turnaround_s)
    if why is not None or turnaround_s is None:
        return BatchChoice([], None, why or "")
    found = twins(cands, discounts, turnaround_s)
    if not found:
        return BatchChoice(
            [], None, "no candidate model gets a batch discount (a batch_discount, run by the provider's batch API)"
        )
    best, unmet = select_mode(
        found,
        cons.mode,
        min_quality=cons.min_quality,
        max_latency_ms=None,  # the deadline bounds the batch tier, checked above
        max_cost_usd=cons.max_cost_usd,
        confidence=cons.confidence,
    )
    if unmet:
        return BatchChoice(found, None, "no batch candidate meets the floor within max_cost_usd")
    if not sync_unmet and best.cost_usd >= sync.cost_usd:
        return BatchChoice(found, None, "the synchronous plan costs no more")
    return BatchChoice(found, best, "chosen: meets the floor at a lower cost")
