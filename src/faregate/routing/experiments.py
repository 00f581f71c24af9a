"""The experiment assigner: which arm of which experiment a request belongs to (pure).

Assignment hashes a unit (the gateway key, the request's ``user`` field or the request id)
with the experiment's name and seed, so it is sticky per unit and replays exactly. The
routing step asks ``ExperimentIndex.assign`` only when an experiment exists (else the index
is ``None`` and a request pays one ``None`` check).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..config.experiments import ExperimentArmConfig, ExperimentConfig


@dataclass(frozen=True, slots=True)
class Assignment:
    """A request's experiment and arm."""

    experiment: str
    arm: ExperimentArmConfig


def unit_point(seed: int, experiment: str, unit: str) -> float:
    """A uniform point in [0, 1) for this unit in this experiment (stable across processes)."""
    digest = hashlib.blake2b(f"{seed}\x00{experiment}\x00{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick_arm(exp: ExperimentConfig, point: float) -> ExperimentArmConfig:
    """The arm whose cumulative share interval holds ``point``."""
    total = sum(a.share for a in exp.arms)
    acc = 0.0
    for arm in exp.arms:
        acc += arm.share / total
        if point < acc:
            return arm
    return exp.arms[-1]  # rounding: the point fell past the last boundary


def assign(exp: ExperimentConfig, key_id: str | None, user: str | None, request_id: str) -> ExperimentArmConfig | None:
    """The arm for a request; ``None`` when the experiment is stopped or the unit is missing
    (a ``user``-sticky experiment and a request without ``user`` takes no part)."""
    if exp.status == "stopped":
        return None
    if exp.status == "promoted":
        return next(a for a in exp.arms if a.name == exp.promoted_arm)
    unit = {"key": key_id, "user": user, "request": request_id}[exp.assign_by]
    if unit is None:
        return None
    return pick_arm(exp, unit_point(exp.seed, exp.name, unit))


class ExperimentIndex:
    """The live experiments by the route or model name they apply to (first one wins)."""

    def __init__(self, experiments: list[ExperimentConfig]) -> None:
        self.by_target: dict[str, ExperimentConfig] = {}
        for e in experiments:
            if e.status != "stopped":
                self.by_target.setdefault(e.applies_to, e)

    @classmethod
    def build(cls, experiments: list[ExperimentConfig]) -> ExperimentIndex | None:
        """``None`` when nothing is running: the hot path then checks only that."""
        index = cls(experiments)
        return index if index.by_target else None

    def assign(self, target: str, key_id: str | None, user: str | None, request_id: str) -> Assignment | None:
        exp = self.by_target.get(target)
        if exp is None:
            return None
        arm = assign(exp, key_id, user, request_id)
        return Assignment(exp.name, arm) if arm is not None else None
