"""Linear Thompson sampling on the residual of the offline quality prediction.

For each model, quality = offline_prediction + theta . x + noise, with a Gaussian prior on
theta centred at 0: with no feedback the learner returns the offline model's predictions
unchanged (the warm start), and every outcome moves them for requests that look alike.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.lazy_import import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")


@dataclass
class _Arm:
    a_inv: np.ndarray  # (d, d) inverse precision
    b: np.ndarray  # (d,)
    n: int = 0

    @property
    def theta(self) -> np.ndarray:
        return self.a_inv @ self.b

    def digest(self) -> bytes:
        """A checksum of this arm's whole posterior: CRC-32 (a label telling states apart, not a
        security digest), because it runs on every update and hashing ~28 kB with a cryptographic
        hash would cost as much as the update itself."""
        crc = zlib.crc32(np.ascontiguousarray(self.a_inv, dtype=np.float64).tobytes())
        crc = zlib.crc32(np.ascontiguousarray(self.b, dtype=np.float64).tobytes(), crc)
        return zlib.crc32(self.n.to_bytes(8, "little"), crc).to_bytes(4, "little") + self.n.to_bytes(8, "little")


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
        # Each arm's digest is refreshed when it learns (O(dim^2), like the update itself), so
        # the snapshot id is a hash of a few digests, recomputed once per change: cheap per request.
        self._digests: dict[str, bytes] = {}
        self._snapshot: str | None = None

    def _arm(self, model: str) -> _Arm:
        arm = self._arms.get(model)
        if arm is None:
            arm = self._arms[model] = _Arm(np.eye(self.dim) / self.prior_strength, np.zeros(self.dim))
        return arm

    def mean(self, model: str, x: np.ndarray) -> float:
        arm = self._arms.get(model)
        return 0.0 if arm is None else float(arm.theta @ x)

    def sample(self, model: str, x: np.ndarray, rng: np.random.Generator, max_shift: float | None = None) -> float:
        """A posterior draw of the residual at ``x``; ``max_shift`` clips its distance to the mean."""
        shift = self.noise * np.sqrt(max(self.spread(model, x), 0.0)) * float(rng.standard_normal())
        if max_shift is not None:
            shift = min(max_shift, max(-max_shift, shift))
        return self.mean(model, x) + shift

    def spread(self, model: str, x: np.ndarray) -> float:
        """``x . A^-1 . x``: how uncertain the residual at ``x`` still is (1/prior_strength scaled
        by |x|^2 with nothing learned); an update of weight w moves the mean at ``x`` by
        ``w q / (1 + w q)`` of its distance to the observed residual."""
        arm = self._arms.get(model)
        if arm is None:
            return float(x @ x) / self.prior_strength
        return float(x @ arm.a_inv @ x)

    def update(self, model: str, x: np.ndarray, residual: float, weight: float = 1.0) -> None:
        with self._lock:
            arm = self._arm(model)
            ax = arm.a_inv @ x
            # Sherman-Morrison: (A + w x x^T)^-1
            arm.a_inv -= np.outer(ax, ax) * (weight / (1.0 + weight * float(x @ ax)))
            arm.b += weight * residual * x
            arm.n += 1
            self._digests[model] = arm.digest()
            self._snapshot = None

    def observations(self, model: str) -> int:
        arm = self._arms.get(model)
        return 0 if arm is None else arm.n

    def state(self) -> dict:
        return {m: {"a_inv": a.a_inv.tolist(), "b": a.b.tolist(), "n": a.n} for m, a in self._arms.items()}

    def load_state(self, state: dict) -> None:
        with self._lock:
            for m, s in state.items():
                arm = self._arms[m] = _Arm(
                    np.asarray(s["a_inv"], dtype=np.float64), np.asarray(s["b"], dtype=np.float64), int(s["n"])
                )
                self._digests[m] = arm.digest()
            self._snapshot = None

    def snapshot_id(self) -> str:
        """A short hash of the posterior (every arm's precision, residual sums and count).

        Equal states give equal ids and any update changes it; with nothing learned it is the
        id of the prior. Read once per request for the policy version, so it is cached between
        updates."""
        snap = self._snapshot
        if snap is None:
            with self._lock:
                h = hashlib.blake2b(digest_size=8)
                h.update(f"{self.dim}:{self.prior_strength!r}".encode())
                for m in sorted(self._digests):
                    h.update(m.encode() + b"\0" + self._digests[m])
                snap = self._snapshot = h.hexdigest()
        return snap
