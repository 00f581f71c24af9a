"""How well each cascade judge's confidence holds on held-out rows.

A judge turns an answer into a verdict; the planner needs to know how often the answer it then
returns is right. Each judge gets a probability per (row, cheap model), learned on the training
fold only, and is scored against the held-out outcome:

- ``"agree"``: for each pair (a, b) that leads an agreement cascade, P(b's answer is right | the
  two agree or not, task) as measured on the training rows (smoothed towards the verdict's
  overall rate);
- ``"json"``: the same map for "the answer parses as JSON" on every cheap model's answer (the
  shared data sets ask for no JSON, so this mostly measures the per-task base rate);
- ``"scorer"``: the learned scorer's P(correct) itself (``routing/scorer.py``), from a scorer
  trained on the training fold.

The outcome is the answer's quality (0/1 on the multiple-choice and code sets, so the observed
value is the rate of correct answers; the mean grade on graded sets). ``faregate eval`` prints
each judge's expected calibration error; ``--reliability`` draws its curve.
"""

from __future__ import annotations

import numpy as np

from .calibrate import expected_calibration_error, reliability
from .cascade import _normalised, json_valid
from .data import OutcomeTable

PRIOR = 2.0  # pseudo-count pulling a sparse (task, verdict) cell towards the verdict's rate


def verdict_rates(verdict: np.ndarray, y: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups + 1, 2) table: mean outcome per (task, verdict); the last row is tasks unseen."""
    out = np.zeros((n_groups + 1, 2))
    for v in (0, 1):
        sel = verdict == v
        base = float(y[sel].mean()) if sel.any() else float(y.mean()) if len(y) else 0.5
        for g in range(n_groups + 1):
            cell = sel & (groups == g) if g < n_groups else sel & (groups < 0)
            out[g, v] = (y[cell].sum() + PRIOR * base) / (cell.sum() + PRIOR)
    return out


def _lookup(rates: np.ndarray, verdict: np.ndarray, groups: np.ndarray) -> np.ndarray:
    g = np.where(groups >= 0, groups, len(rates) - 1)
    return rates[g, verdict.astype(int)]


def _agree_verdicts(table: OutcomeTable, pairs: list[tuple[int, int]]) -> np.ndarray:
    norm = _normalised(table)
    return np.array([[r[a] is not None and r[a] == r[b] for a, b in pairs] for r in norm], bool).reshape(
        len(norm), len(pairs)
    )


def _json_verdicts(table: OutcomeTable, cols: list[int]) -> np.ndarray:
    return np.array([[json_valid(r[j]) for j in cols] for r in table.responses], bool).reshape(
        len(table.responses), len(cols)
    )


def _map_points(vtr, ytr, gtr, vte, yte, gte, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    ps, hs = [], []
    for c in range(vtr.shape[1]):
        rates = verdict_rates(vtr[:, c], ytr[:, c], gtr, n_groups)
        ps.append(_lookup(rates, vte[:, c], gte))
        hs.append(yte[:, c])
    return (np.concatenate(ps), np.concatenate(hs)) if ps else (np.zeros(0), np.zeros(0))


def judge_points(
    model, train: OutcomeTable, gtr: np.ndarray, test: OutcomeTable, gte: np.ndarray, scores: dict | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Held-out (probability, outcome) pairs per judge for one fold. ``model``: the fold's
    ``RouterModel``; tables in its model order; ``scores``: the scorer's P on the test answers."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not train.has_responses:
        return out
    ix = {m: j for j, m in enumerate(model.models)}
    n_groups = len(model.tasks)
    pairs = sorted({(ix[a.models[0]], ix[a.models[1]]) for a in model.arms if a.judge == "agree"})
    if pairs:
        b = [q for _, q in pairs]
        out["agree"] = _map_points(
            _agree_verdicts(train, pairs), train.quality[:, b], gtr,
            _agree_verdicts(test, pairs), test.quality[:, b], gte, n_groups,
        )  # fmt: skip
    cheap = sorted({ix[m] for a in model.arms if a.judge for m in a.models[:-1]})
    if cheap:
        out["json"] = _map_points(
            _json_verdicts(train, cheap), train.quality[:, cheap], gtr,
            _json_verdicts(test, cheap), test.quality[:, cheap], gte, n_groups,
        )  # fmt: skip
    if scores:
        out["scorer"] = (
            np.concatenate([np.asarray(scores[m], float) for m in sorted(scores)]),
            np.concatenate([test.quality[:, ix[m]] for m in sorted(scores)]),
        )
    return out


def summarise_judges(points: list[dict[str, tuple[np.ndarray, np.ndarray]]]) -> dict[str, dict]:
    """Per judge over every fold: ECE, reliability rows (mean predicted, observed, count), n."""
    out = {}
    for judge in sorted({j for p in points for j in p}):
        p = np.concatenate([f[judge][0] for f in points if judge in f])
        y = np.concatenate([f[judge][1] for f in points if judge in f])
        if len(p):
            out[judge] = {"ece": expected_calibration_error(p, y), "reliability": reliability(p, y), "n": len(p)}
    return out
