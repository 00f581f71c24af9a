"""Calibrated P(outcome >= floor) for a plan, from its predicted mean quality.

The predictors estimate a plan's *mean* quality for a prompt; the planner's chance constraint
needs the probability that the answer meets a quality floor. ``Calibration.fit`` learns that
map from out-of-fold predictions made at training time: for every floor on a grid and every
bin of predicted mean, the fraction of held-out outcomes at or above the floor (pooled over
plans, smoothed towards the floor's overall rate, then made monotone: non-decreasing in the
predicted mean, non-increasing in the floor). ``p_meet`` interpolates the table.

``expected_calibration_error`` and ``reliability`` measure the result (``faregate eval``).
Router files without a table fall back to ``fallback_p_meet``.
"""

from __future__ import annotations

import numpy as np

FLOORS = np.linspace(0.0, 1.0, 21)
BINS = 20
SMOOTH = 5.0  # pseudo-count pulling a sparse bin towards the floor's overall rate


class Calibration:
    """A (len(FLOORS), BINS) table of P(outcome >= floor | predicted mean in bin)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.asarray(table, float)
        self._centres = (np.arange(BINS) + 0.5) / BINS
        self._columns: dict[float, np.ndarray] = {}

    @classmethod
    def fit(cls, mu: np.ndarray, y: np.ndarray) -> Calibration:
        """``mu``: out-of-fold predicted means, ``y``: the outcomes (same shape, any)."""
        mu = np.clip(np.asarray(mu, float).ravel(), 0.0, 1.0)
        y = np.asarray(y, float).ravel()
        ok = np.isfinite(mu) & np.isfinite(y)
        mu, y = mu[ok], y[ok]
        b = np.minimum((mu * BINS).astype(int), BINS - 1)
        n = np.bincount(b, minlength=BINS).astype(float)
        table = np.empty((len(FLOORS), BINS))
        for i, f in enumerate(FLOORS):
            hit = (y >= f - 1e-9).astype(float)
            base = hit.mean() if len(hit) else 1.0 - f
            k = np.bincount(b, weights=hit, minlength=BINS)
            table[i] = (k + SMOOTH * base) / (n + SMOOTH)
        # Monotone: more predicted quality never lowers the chance; a higher floor never raises it.
        table = np.maximum.accumulate(table, axis=1)
        table = np.minimum.accumulate(table, axis=0)
        return cls(table)

    def p_meet(self, mu: np.ndarray | float, floor: float) -> np.ndarray:
        """P(outcome >= floor) for predicted means ``mu`` (array or scalar)."""
        m = np.clip(np.asarray(mu, float), 0.0, 1.0)
        return np.clip(np.interp(m, self._centres, self._column(float(np.clip(floor, 0.0, 1.0)))), 0.0, 1.0)

    def _column(self, f: float) -> np.ndarray:
        """The table interpolated at floor ``f``, one value per bin; memoised, since a gateway
        plans most requests against a few configured floors."""
        col = self._columns.get(f)
        if col is None:
            col = np.array([np.interp(f, FLOORS, self.table[:, j]) for j in range(BINS)])
            if len(self._columns) < 256:
                self._columns[f] = col
        return col


def fallback_p_meet(mu: np.ndarray | float, floor: float) -> np.ndarray:
    """For router files saved before calibration: the Bernoulli reading of the mean (exact for
    0/1 outcomes, where P(y >= floor) = mean for any floor in (0, 1])."""
    m = np.clip(np.asarray(mu, float), 0.0, 1.0)
    return np.ones_like(m) if floor <= 0 else m


def reliability(p: np.ndarray, hit: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed rate, count) per probability bin, empty bins left out."""
    p, hit = np.asarray(p, float).ravel(), np.asarray(hit, float).ravel()
    b = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for i in range(bins):
        sel = b == i
        if sel.any():
            out.append((float(p[sel].mean()), float(hit[sel].mean()), int(sel.sum())))
    return out


def expected_calibration_error(p: np.ndarray, hit: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |predicted - observed| over probability bins."""
    rows = reliability(p, hit, bins)
    total = sum(n for _, _, n in rows)
    return float(sum(n * abs(a - o) for a, o, n in rows) / total) if total else 0.0


def out_of_fold(make, E: np.ndarray, groups: np.ndarray, Y: np.ndarray, n_groups: int, k: int = 5) -> np.ndarray:
    """Out-of-fold predictions of ``make().fit(...)`` on the training rows (k folds, fixed
    seed), so the calibration is fitted on predictions the predictor made without the row."""
    n = len(E)
    fold = np.random.default_rng(0).permutation(n) % max(2, min(k, n))
    out = np.empty_like(Y, dtype=float)
    for f in np.unique(fold):
        te = fold == f
        out[te] = make().fit(E[~te], groups[~te], Y[~te], n_groups).predict(E[te], groups[te])
    return out
