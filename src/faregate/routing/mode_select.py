"""The choice of a plan under an optimisation mode (the modes and their presets: ``modes.py``)."""

from __future__ import annotations

from .modes import LATENCY_COST_FACTOR, W_COST, W_LATENCY, W_QUALITY
from .policy import Candidate, select, within_limits


def select_mode(
    candidates: list[Candidate],
    mode: str | None,
    *,
    min_quality: float,
    max_latency_ms: float | None = None,
    max_cost_usd: float | None = None,
    confidence: float | None = None,
) -> tuple[Candidate, bool]:
    """The chosen candidate and whether a constraint is unmet, under ``mode`` (see the module)."""
    base, unmet = select(
        candidates,
        min_quality=min_quality,
        max_latency_ms=max_latency_ms,
        max_cost_usd=max_cost_usd,
        confidence=confidence,
    )
    if mode in (None, "cost") or unmet:
        return base, unmet
    ok = [c for c in candidates if within_limits(c, max_latency_ms, max_cost_usd)]
    meeting = [c for c in ok if c.meets(min_quality, confidence)]
    if mode == "quality":
        return max(ok, key=lambda c: (c.quality, -c.cost_usd, _neg(c.models))), False
    if mode == "latency":
        cap = base.cost_usd * LATENCY_COST_FACTOR if max_cost_usd is None else float("inf")
        fits = [c for c in meeting if c.cost_usd <= cap] or [base]
        return min(fits, key=lambda c: (c.latency_ms, c.cost_usd, c.models)), False
    return min(meeting, key=lambda c: (balanced_score(c, meeting), c.cost_usd, c.models)), False


def balanced_score(c: Candidate, among: list[Candidate]) -> float:
    """The balanced mode's objective (lower is better): cost and latency relative to the dearest
    and slowest of ``among``, quality as its shortfall from 1."""
    top_cost = max(x.cost_usd for x in among) or 1.0
    top_lat = max(x.latency_ms for x in among) or 1.0
    return W_COST * c.cost_usd / top_cost + W_LATENCY * c.latency_ms / top_lat + W_QUALITY * (1.0 - c.quality)


def _neg(models: tuple[str, ...]) -> tuple[int, ...]:
    """A key that sorts names in reverse, so ``max`` breaks ties on the first name, like ``min``."""
    return tuple(-ord(ch) for ch in "\0".join(models))
