"""Two-model routing that observes the weak model's answer.

For a strong/weak pair with recorded answers (and ``--scorer``), every prompt goes to the weak
model first; the learned (prompt, answer) scorer judges that answer, and the knob escalates the
prompts with the largest predicted gain, ``predicted strong quality - scorer's P(weak answer is
right)``, to the strong model. A knob point is the share escalated, which is the share of strong
calls; the cost of a point counts the weak call on every prompt plus the escalations.
"""

from __future__ import annotations

import numpy as np

from . import metrics as M
from .cascade import Arm
from .data import OutcomeTable, Row


def pair_cascade(
    test: list[Row], table: OutcomeTable, strong: str, weak: str, gain: np.ndarray, points: int
) -> tuple[list[float], list[float], list[list[tuple[str, list[str]]]]]:
    """Per knob point (shares 0..1 of escalations, ``points`` of them): summed quality, summed
    cost and the decisions (row id, models called in order) of the weak -> strong cascade that
    escalates the rows of largest ``gain``."""
    s, w = table.models.index(strong), table.models.index(weak)
    order = M.rank_desc(gain)
    n = len(test)
    qs, cs, dec = [], [], []
    for share in np.linspace(0.0, 1.0, points):
        esc = np.zeros(n, bool)
        esc[order[: int(round(share * n))]] = True
        qs.append(float(np.where(esc, table.quality[:, s], table.quality[:, w]).sum()))
        cs.append(float((table.cost[:, w] + esc * table.cost[:, s]).sum()))
        dec.append([(r.id, [weak, strong] if e else [weak]) for r, e in zip(test, esc)])
    return qs, cs, dec


PAIR_WEIGHTS = (0.0, 0.5, 1.0, 2.0)


def fit_weight(arms: list[Arm], table: OutcomeTable, oof: np.ndarray, scores: dict) -> float:
    """How much the prompt-only prediction of the strong model counts beside the scorer's verdict
    on the weak answer, chosen by APGR on out-of-fold predictions of the training rows only."""
    weak = next(iter(scores))
    strong = next(m for m in table.models if m != weak)
    col = {a.key: i for i, a in enumerate(arms)}
    qs, qw = table.quality[:, table.models.index(strong)], table.quality[:, table.models.index(weak)]
    if qs.mean() == qw.mean():
        return 1.0
    best = max(PAIR_WEIGHTS, key=lambda a: M.apgr(*M.pgr_curve(a * oof[:, col[strong]] - scores[weak], qs, qw)))
    return float(best)
