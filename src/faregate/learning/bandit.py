"""Linear Thompson sampling on the residual of the offline quality prediction.

For each model, quality = offline_prediction + theta . x + noise, with a Gaussian prior on
theta centred at 0: with no feedback the learner returns the offline model's predictions
unchanged (the warm start), and every outcome moves them for requests that look alike.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass
class _Arm:
    a_inv: np.ndarray  # (d, d) inverse precision
    b: np.ndarray  # (d,)
    n: int = 0

    @property
    def theta(self) -> np.ndarray:
        return self.a_inv @ self.b


class ResidualThompson:
    """Per-model Bayesian linear regression of the residual; thread-safe updates.

    ``prior_strength`` is the ridge penalty (how many pseudo-observations of "residual 0"
    the prior is worth); ``noise`` the observation noise scale used for sampling.
    """

    def __init__(self, dim: int, *, prior_strength: float = 1.0, noise: float = 0.2) -> None:
        self.dim = dim
        self.prior_strength = prior_strength
        self.noise = noise
        self._arms: dict[str, _Arm] = {}
        self._lock = threading.Lock()

    def _arm(self, model: str) -> _Arm:
        arm = self._arms.get(model)
        if arm is None:
            arm = self._arms[model] = _Arm(np.eye(self.dim) / self.prior_strength, np.zeros(self.dim))
        return arm

    def mean(self, model: str, x: np.ndarray) -> float:
        arm = self._arms.get(model)
        return 0.0 if arm is None else float(arm.theta @ x)

    def sample(self, model: str, x: np.ndarray, rng: np.random.Generator) -> float:
        arm = self._arms.get(model) or _Arm(np.eye(self.dim) / self.prior_strength, np.zeros(self.dim))
        mean = float(arm.theta @ x)
        var = float(x @ arm.a_inv @ x)
        return mean + self.noise * np.sqrt(max(var, 0.0)) * float(rng.standard_normal())

    def update(self, model: str, x: np.ndarray, residual: float, weight: float = 1.0) -> None:
        with self._lock:
            arm = self._arm(model)
            ax = arm.a_inv @ x
            # Sherman-Morrison: (A + w x x^T)^-1
            arm.a_inv -= np.outer(ax, ax) * (weight / (1.0 + weight * float(x @ ax)))
            arm.b += weight * residual * x
            arm.n += 1

    def observations(self, model: str) -> int:
        arm = self._arms.get(model)
        return 0 if arm is None else arm.n

    def state(self) -> dict:
        return {m: {"a_inv": a.a_inv.tolist(), "b": a.b.tolist(), "n": a.n} for m, a in self._arms.items()}

    def load_state(self, state: dict) -> None:
        for m, s in state.items():
            self._arms[m] = _Arm(np.asarray(s["a_inv"]), np.asarray(s["b"]), int(s["n"]))
