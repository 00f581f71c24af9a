"""The one plan type: what the router decided for a request, and why.

Made by ``routing.policy.choose`` (from candidates alone) and by ``routing.planner.plan`` (for a
route, with its constraints and every candidate's explanation); ``as_dict`` is the body of
``POST /v1/route``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .constraints import Constraints

# prediction_source -> (how confident, what it means), said plainly in POST /v1/route and `faregate analyze`.
PREDICTION_NOTES: dict[str, tuple[str, str]] = {
    "prior": (
        "low",
        "quality priors from the model catalogue or config (no trained router or logged outcomes for "
        "these models): a plan meets the floor only with a wide margin; train a router or calibrate from the log",
    ),
    "logged_outcomes": ("medium", "quality measured per task on this gateway's logged outcomes"),
    "router": ("high", "a trained router's calibrated prediction for this prompt"),
}


@dataclass
class Plan:
    kind: str  # "single" | "cascade"
    models: list[str]  # in call order
    judge: str | None
    predicted_quality: float
    predicted_cost_usd: float
    predicted_latency_ms: float  # p95 of the worst path
    constraint_unmet: bool
    route: str = ""
    constraints: Constraints | None = None
    # Every candidate's predictions (and, from the planner, whether it is within the limits and
    # meets the floor), then the models excluded and why.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    arm: str = "routed"  # "routed", or "control" for the fixed-model arm of a gradual rollout
    explored: bool = False
    # Offline (pre-learning) quality per single model, the baseline the learner corrects, and
    # how far the learner's mean moved each model it has learned about (feedback and signals).
    offline_quality: dict[str, float] = field(default_factory=dict)
    learned_shift: dict[str, float] = field(default_factory=dict)
    complexity: str | None = None  # "simple" | "medium" | "complex" (``routing.complexity``)
    complexity_source: str | None = None  # "router" | "heuristic"
    # Where the chosen plan's quality prediction came from: "router" (a trained router),
    # "logged_outcomes" (measured per-task quality) or "prior" (configured), and its P(meets floor).
    prediction_source: str | None = None
    p_meet: float | None = None
    # "sync" (answered now) or "batch" (a 202 and a batch job; ``routing.batch_tier``), and why
    # the batch tier was or was not chosen when a deadline was given.
    tier: str = "sync"
    batch_note: str | None = None

    @property
    def prediction_confidence(self) -> str | None:
        """How much evidence stands behind the prediction: "low" (priors), "medium", "high"."""
        return PREDICTION_NOTES[self.prediction_source][0] if self.prediction_source in PREDICTION_NOTES else None

    @property
    def prediction_note(self) -> str | None:
        """What the prediction rests on, in words, and what the learner changed of it."""
        note = PREDICTION_NOTES.get(self.prediction_source or "", (None, None))[1]
        moved = [(m, self.learned_shift[m]) for m in self.models if m in self.learned_shift]
        if note is None or not moved:
            return note
        shifts = ", ".join(f"{m} {v:+.4f}" for m, v in moved)
        return (
            f"{note}; corrected online from feedback and implicit signals ({shifts}; "
            "`faregate report --signals` lists them)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "kind": self.kind,
            "tier": self.tier,
            "models": self.models,
            "judge": self.judge,
            "arm": self.arm,
            "explored": self.explored,
            "predicted_quality": round(self.predicted_quality, 4),
            "predicted_cost_usd": self.predicted_cost_usd,
            "predicted_p95_latency_ms": round(self.predicted_latency_ms, 1),
            "constraint_unmet": self.constraint_unmet,
            "constraints": self.constraints.as_dict() if self.constraints is not None else None,
            "complexity": self.complexity,
            "complexity_source": self.complexity_source,
            "prediction_source": self.prediction_source,
            "p_meet": None if self.p_meet is None else round(self.p_meet, 4),
            "prediction_confidence": self.prediction_confidence,
            "prediction_note": self.prediction_note,
            "learned_shift": {m: round(v, 4) for m, v in self.learned_shift.items()},
            "batch_tier": self.batch_note,
            "candidates": self.candidates,
        }
