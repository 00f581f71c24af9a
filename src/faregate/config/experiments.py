"""Policy experiments (``experiments:``): arms of routing policies sharing one route's traffic.

Each arm is one routing policy: a fixed model, another route's definition, a router model
file, or a set of constraint defaults. ``routing/experiments.py`` assigns requests to arms;
``routing/experiment_stats.py`` compares the arms from the request log.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import _Frozen

# The routing constraints an arm may default (``routing/constraints.py`` checks their ranges).
CONSTRAINT_KEYS = frozenset({"min_quality", "max_cost_usd", "max_latency_ms", "mode"})


class ExperimentArmConfig(_Frozen):
    """One arm: a name, its share of the traffic and exactly one policy."""

    name: str = Field(description="The arm's name, as logged in `experiment_arm`.")
    share: float = Field(gt=0, description="Relative share of the experiment's traffic (normalised over the arms).")
    model: str | None = Field(None, description="Policy: always this fixed model.")
    route: str | None = Field(None, description="Policy: plan as this route does (its candidates and floors).")
    router_model: str | None = Field(None, description="Policy: plan with this router model file.")
    constraints: dict[str, float | str] | None = Field(
        None, description="Policy: these constraint defaults (min_quality, max_cost_usd, max_latency_ms, mode)."
    )

    @model_validator(mode="after")
    def _one_policy(self) -> ExperimentArmConfig:
        set_ = [k for k in ("model", "route", "router_model", "constraints") if getattr(self, k) is not None]
        if len(set_) > 1:
            raise ValueError(
                f"arm {self.name!r}: set one policy (model, route, router_model or constraints), not {set_}"
            )
        unknown = sorted(set(self.constraints or {}) - CONSTRAINT_KEYS)
        if unknown:
            raise ValueError(f"arm {self.name!r}: unknown constraints {unknown}; use {sorted(CONSTRAINT_KEYS)}")
        return self


class ExperimentConfig(_Frozen):
    """An experiment on one route: two or more arms and how requests are assigned to them."""

    name: str = Field(description="The experiment's name (`faregate experiments report NAME`).")
    applies_to: str = Field("auto", description="The route (or model name) whose requests take part.")
    assign_by: Literal["key", "user", "request"] = Field(
        "key", description="Sticky per gateway key, per request `user` field, or per request id (hashed)."
    )
    seed: int = Field(0, description="Seed of the assignment hash (same seed: same assignment on replay).")
    arms: list[ExperimentArmConfig] = Field(min_length=2, description="Two or more arms.")
    status: Literal["running", "stopped", "promoted"] = Field(
        "running", description="running: arms share traffic; stopped: no one takes part; promoted: all to one arm."
    )
    promoted_arm: str | None = Field(None, description="With status promoted: the arm every request gets.")

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r}: duplicate arm names {names}")
        if self.status == "promoted" and self.promoted_arm not in names:
            raise ValueError(f"experiment {self.name!r}: promoted_arm must be one of {names}")
        return self
