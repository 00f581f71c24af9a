"""The routing policy: a pure function from per-candidate predictions and constraints to a ``Plan``.

``choose(candidates, min_quality=..., max_latency_ms=..., max_cost_usd=...)`` returns the
cheapest candidate that meets the floor and is within the hard limits
(predicted p95 latency and worst-case cost; a cascade's worst case calls every model). With
``confidence`` the floor is a chance constraint: ``P(quality >= floor) >= confidence`` (the
candidate's ``p_meet``, else ``chance.p_meet`` of its mean); without, the mean against it. If
none meets the floor: the best quality within the hard limits, ``constraint_unmet=True``; if
nothing is within them either, the fastest candidate, ``constraint_unmet=True``.

``choose_tradeoff(candidates, lam, ...)`` is the knob form used by offline sweeps: maximise
quality - lam * cost within the same hard limits. No randomness: ties break on cost, then
on the models' names, so a decision replays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import chance
from .plan import Plan


@dataclass(frozen=True)
class Candidate:
    """One possible plan: a single model, or a cascade (``models`` in call order, ``judge``).

    ``cost_usd`` is the expected cost, ``worst_cost_usd`` the cost if every model is called;
    ``latency_ms`` the predicted p95 latency of the worst path (every stage called in turn)."""

    models: tuple[str, ...]
    quality: float
    cost_usd: float
    latency_ms: float
    judge: str | None = None
    worst_cost_usd: float | None = None
    p_meet: float | None = None  # calibrated P(answer meets the request's floor); None: from quality

    def chance(self, floor: float) -> float:
        """``P(answer meets floor)``: ``p_meet`` when a predictor gave one, else from the mean."""
        return chance.p_meet(self.quality, floor) if self.p_meet is None else self.p_meet

    def meets(self, floor: float, confidence: float | None) -> bool:
        """The floor as a chance constraint (``confidence`` None: the mean against the floor)."""
        return self.quality >= floor if confidence is None else self.chance(floor) >= confidence

    @property
    def kind(self) -> str:
        return "single" if len(self.models) == 1 else "cascade"

    @property
    def worst_cost(self) -> float:
        return self.cost_usd if self.worst_cost_usd is None else self.worst_cost_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "models": list(self.models),
            "judge": self.judge,
            "predicted_quality": round(self.quality, 4),
            "predicted_cost_usd": self.cost_usd,
            "worst_cost_usd": self.worst_cost,
            "predicted_p95_latency_ms": round(self.latency_ms, 1),
            "p_meet": None if self.p_meet is None else round(self.p_meet, 4),
        }


def within_limits(c: Candidate, max_latency_ms: float | None, max_cost_usd: float | None) -> bool:
    return (max_latency_ms is None or c.latency_ms <= max_latency_ms) and (
        max_cost_usd is None or c.worst_cost <= max_cost_usd
    )


def _plan(c: Candidate, unmet: bool, cands: list[Candidate]) -> Plan:
    return Plan(
        c.kind,
        list(c.models),
        c.judge,
        c.quality,
        c.cost_usd,
        c.latency_ms,
        unmet,
        candidates=[x.as_dict() for x in cands],
    )


def select(
    candidates: list[Candidate],
    *,
    min_quality: float,
    max_latency_ms: float | None = None,
    max_cost_usd: float | None = None,
    confidence: float | None = None,
) -> tuple[Candidate, bool]:
    """The chosen candidate and whether a constraint is unmet (``choose`` without the Plan).

    With ``confidence``, a candidate meets the floor when ``P(quality >= floor) >= confidence``;
    if none does, the one most likely to meet it (``constraint_unmet``)."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    ok = [c for c in candidates if within_limits(c, max_latency_ms, max_cost_usd)]
    meeting = [c for c in ok if c.meets(min_quality, confidence)]
    if meeting:
        return min(meeting, key=lambda c: (c.cost_usd, -c.quality, c.models)), False
    if ok and confidence is not None:
        return max(ok, key=lambda c: (c.chance(min_quality), c.quality, -c.cost_usd)), True
    if ok:
        return max(ok, key=lambda c: (c.quality, -c.cost_usd)), True
    return min(candidates, key=lambda c: (c.latency_ms, c.worst_cost, c.models)), True


def choose(
    candidates: list[Candidate],
    *,
    min_quality: float,
    max_latency_ms: float | None = None,
    max_cost_usd: float | None = None,
    confidence: float | None = None,
) -> Plan:
    best, unmet = select(
        candidates,
        min_quality=min_quality,
        max_latency_ms=max_latency_ms,
        max_cost_usd=max_cost_usd,
        confidence=confidence,
    )
    return _plan(best, unmet, candidates)


def choose_tradeoff(
    candidates: list[Candidate], lam: float, *, max_latency_ms: float | None = None, max_cost_usd: float | None = None
) -> Plan:
    """Maximise predicted quality - ``lam`` * predicted cost (``lam`` in quality per USD)."""
    if not candidates:
        raise ValueError("no candidates to choose from")
    ok = [c for c in candidates if within_limits(c, max_latency_ms, max_cost_usd)]
    if not ok:
        best = min(candidates, key=lambda c: (c.latency_ms, c.worst_cost, c.models))
        return _plan(best, True, candidates)
    best = max(ok, key=lambda c: (c.quality - lam * c.cost_usd, -c.cost_usd))
    return _plan(best, False, candidates)
