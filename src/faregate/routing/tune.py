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
TASK_MEAN = (0, 0.0)  # a per-task (k, prior) meaning "the task's mean outcome, no neighbours"
MIN_TASK_ROWS = 100  # fewer training rows than this: a task's own choice would fit the inner folds' noise
MARGIN = 0.0005  # a task's own setting must beat the overall one by this much (noise of the inner folds)
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
    ``Q``/``C`` are the arms' realised quality and cost on the same rows.

    The best setting of ``grid`` overall, then task by task (largest first) the setting, or the
    task's mean (``TASK_MEAN``: its prompts carry no signal the neighbours find), that raises the
    score over every row, for tasks of at least ``MIN_TASK_ROWS`` rows; a task keeps the overall
    setting unless another beats it by ``MARGIN``.
    Prompts of a task unknown to training always get the overall setting, never a mean."""
    n = len(E)
    if n < 6 * folds:
        return dict(grid[len(grid) // 2])
    fold = np.random.default_rng(seed).permutation(n) % folds
    Ch = np.zeros_like(C)
    Qm = np.zeros_like(Q)  # each task's mean on the other folds
    for f in range(folds):
        tr, te = fold != f, fold == f
        at = np.where(groups[te] >= 0, groups[te], n_groups)
        Ch[te] = group_means(C[tr], groups[tr], n_groups)[at]
        Qm[te] = group_means(Y[tr], groups[tr], n_groups)[at][:, : Q.shape[1]]
    preds = []
    for params in grid:
        Qh = np.zeros_like(Q)
        for f in range(folds):
            tr, te = fold != f, fold == f
            p = KNNPredictor(**params).fit(E[tr], groups[tr], Y[tr], n_groups)
            Qh[te] = p.predict(E[te], groups[te])[:, : Q.shape[1]]
        preds.append(Qh)
    scores = [_score(Qh, Ch, Q, C, singles) for Qh in preds]
    best = int(np.argmax(scores))
    options = [*((g["k"], g["prior"]) for g in grid), TASK_MEAN]

    def score(Qh: np.ndarray) -> float:
        return _score(Qh, Ch, Q, C, singles)

    return {**grid[best], "per_group": _per_task(groups, n_groups, [*preds, Qm], options, best, scores[best], score)}


def _per_task(groups, n_groups: int, preds: list, options: list, best: int, base: float, score) -> dict:
    """Task by task, largest first: the option whose inner-fold predictions on that task's rows
    raise ``score`` (of every row) by more than ``MARGIN`` over the choice so far."""
    chosen = preds[best].copy()
    per_group: dict[int, tuple[int, float]] = {}
    sizes = np.bincount(groups[groups >= 0], minlength=n_groups)
    for g in np.argsort(-sizes, kind="stable"):
        if sizes[g] < MIN_TASK_ROWS:
            continue
        rows = groups == g
        trial = []
        for j, Qh in enumerate(preds):
            mixed = chosen.copy()
            mixed[rows] = Qh[rows]
            trial.append(-np.inf if j == best else score(mixed))
        j = int(np.argmax(trial))
        if trial[j] > base + MARGIN:
            per_group[int(g)] = options[j]
            chosen[rows] = preds[j][rows]
            base = trial[j]
    return per_group
