"""Where a route's predictions come from: its trained router and the calibration file.

``RouterSource`` gives the policy ``Candidate`` plans for one request (the trained router's
singles and cascades for the models it knows, each other model's configured quality prior)
and judges a cascade's answers live (``accept``). ``load_calibration`` reads what
``faregate calibrate --from-log`` measured.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..config import ModelConfig
from . import chance
from . import features as F
from .policy import Candidate


def prior_quality(m: ModelConfig, task: str | None) -> float:
    """A model's prior for a task family: its ``quality_priors`` (the catalogue's, or the
    config's) for the task, else their ``default``, else the flat ``quality``."""
    by_task = m.quality_priors
    return by_task.get(task or "", by_task.get("default", m.quality))


class RouterSource:
    """A route's trained router (``faregate train``), or none: configured priors only.

    Extension point: ``candidates`` returns policy ``Candidate`` plans for one request."""

    def __init__(self, router: Any = None) -> None:
        self.router = router
        # A router whose ``candidates`` takes ``floor`` fills each plan's calibrated p_meet; an
        # older one (no such keyword) leaves it None and ``chance`` derives it from the mean.
        self._floor_kw = router is not None and "floor" in inspect.signature(router.candidates).parameters

    @classmethod
    def load(cls, path: str | None) -> RouterSource:
        if not path:
            return cls(None)
        from .model import RouterModel

        return cls(RouterModel.load(path))

    def knows(self, m: ModelConfig) -> bool:
        """Whether the trained router predicts this model."""
        return self.router is not None and (m.router_name or m.name) in self.router.models

    def candidates(
        self,
        feats: F.RequestFeatures,
        models: list[ModelConfig],
        *,
        latency_ms: dict[str, float],
        cost_usd: dict[str, float],
        cascades: bool,
        floor: float | None = None,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        known: set[str] = set()
        if self.router is not None:
            names = {(m.router_name or m.name): m.name for m in models if self.knows(m)}
            extra = {"floor": floor} if self._floor_kw else {}
            out = self.router.candidates(
                feats, latency_ms=latency_ms, names=names, cost_usd=cost_usd, cascades=cascades, **extra
            )
            known = set(names.values())
        for m in models:  # models the router does not know: their prior for this task (little evidence)
            if m.name not in known:
                q = prior_quality(m, feats.task)
                p = None if floor is None else chance.p_meet(q, floor, chance.PRIOR_CONCENTRATION)
                out.append(Candidate((m.name,), q, cost_usd[m.name], latency_ms[m.name], p_meet=p))
        return out

    def accept(
        self,
        judge: str | None,
        feats: F.RequestFeatures,
        called: list[ModelConfig],
        answers: list[str | None],
        schema: dict | None,
    ) -> bool:
        """Whether a cascade stops at its latest answer (the router's judges, by data names)."""
        if self.router is not None:
            return bool(self.router.accept(judge, feats, [m.router_name or m.name for m in called], answers, schema))
        if not answers or answers[-1] is None:
            return False
        from .cascade import json_valid, run_agreement  # here: the module brings numpy, used offline

        if judge == "agree":
            return len(answers) >= 2 and run_agreement(answers)
        if judge == "json":
            return json_valid(answers[-1], schema)
        return False


def load_calibration(path: str | None) -> dict[str, dict]:
    if not path:
        return {}
    import orjson

    with open(path, "rb") as f:
        return orjson.loads(f.read())
