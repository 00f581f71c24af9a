"""Hyperparameter choice by inner cross-validation on the training rows only.

``select_knn`` tries a small grid of kNN settings (neighbours, prior strength) on ``folds``
inner folds of the training data and keeps the best by the metric the router is judged on:
AIQ of the cost/quality sweep (APGR when there are exactly two single models). The outer
evaluation never sees its test rows here, so figures from ``faregate eval`` stay honest.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M
from .predictors import KNNPredictor, group_means

GRID = ({"k": 20, "prior": 2.0}, {"k": 50, "prior": 5.0}, {"k": 100, "prior": 10.0}, {"k": 200, "prior": 30.0})
LAMBDAS = np.concatenate([[0.0], np.geomspace(1.0, 1e6, 40), [np.inf]])


def _score(Qh, Ch, Q, C, singles: list[int]) -> float:
    if len(singles) == 2:
        a, b = singles
        strong, weak = (a, b) if Q[:, a].mean() >= Q[:, b].mean() else (b, a)
        if Q[:, strong].mean() == Q[:, weak].mean():
            return 0.0
        share, pgr = M.pgr_curve(Qh[:, strong] - Qh[:, weak], Q[:, strong], Q[:, weak])
        return M.apgr(share, pgr)
    r = np.arange(len(Q))
    pts = []
    for lam in LAMBDAS:
        util = -Ch + 1e-9 * Qh if np.isinf(lam) else Qh - lam * Ch
        pick = util.argmax(1)
        pts.append((C[r, pick].mean(), Q[r, pick].mean()))
    costs = C[:, singles].mean(0)
    if costs.max() <= costs.min():
        return float(max(q for _, q in pts))
    return M.aiq(pts, float(costs.min()), float(costs.max()))


def select_knn(
    E: np.ndarray,
    groups: np.ndarray,
    Y: np.ndarray,
    Q: np.ndarray,
    C: np.ndarray,
    singles: list[int],
    n_groups: int,
    *,
    folds: int = 3,
    grid=GRID,
    seed: int = 0,
) -> dict:
    """Best kNN settings for targets ``Y`` (first ``Q.shape[1]`` columns are arm qualities);
    ``Q``/``C`` are the arms' realised quality and cost on the same rows."""
    n = len(E)
    if n < 6 * folds:
        return dict(grid[len(grid) // 2])
    fold = np.random.default_rng(seed).permutation(n) % folds
    scores = []
    for params in grid:
        Qh = np.zeros_like(Q)
        Ch = np.zeros_like(C)
        for f in range(folds):
            tr, te = fold != f, fold == f
            p = KNNPredictor(**params).fit(E[tr], groups[tr], Y[tr], n_groups)
            Qh[te] = p.predict(E[te], groups[te])[:, : Q.shape[1]]
            Ch[te] = group_means(C[tr], groups[tr], n_groups)[np.where(groups[te] >= 0, groups[te], n_groups)]
        scores.append(_score(Qh, Ch, Q, C, singles))
    return dict(grid[int(np.argmax(scores))])
