"""``faregate eval --all DIR``: every routing-outcomes file of a folder, cross-validated, with
the baselines beside the router: the zero router (hull of the single models), the per-task
rule (each task's best plan for every knob value, chosen on the training fold) and the oracle;
"below rule" is the share of the cost range both hulls cover (the single models' range from the
dearer of the two hulls' cheapest points: below that one of them has no plan) where faregate's
hull is below the rule's by more than 0.0001, and by how much at most ("-": at or above it
everywhere). Pinned by ``metrics.hull_shortfall``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import metrics as M
from .cascade import candidate_arms, simulate
from .data import OutcomeTable, Row, kfold, load_rows

if TYPE_CHECKING:
    from .evaluate import Sweep


def task_rule_points(rows: list[Row], k: int = 5, seed: int = 0, lambdas=None) -> list[tuple[float, float]]:
    """Cross-validated points of the per-task rule: on each training fold, the plan with the best
    mean quality - lambda * cost per task (the best overall for a task the fold lacks), applied
    to the held-out rows."""
    from .evaluate import LAMBDAS

    lambdas = LAMBDAS if lambdas is None else lambdas
    table = OutcomeTable.from_rows(rows)
    arms = candidate_arms(table)
    sims = [simulate(a, table) for a in arms]
    Q = np.stack([x[0] for x in sims], 1)
    C = np.stack([x[1] for x in sims], 1)
    tasks = np.array([r.task or "" for r in rows])
    q = np.zeros(len(lambdas))
    c = np.zeros(len(lambdas))
    for tr_ix, te_ix in kfold(rows, k, seed):
        tr, te = np.asarray(tr_ix), np.asarray(te_ix)
        for li, lam in enumerate(lambdas):
            overall = int(np.argmax(Q[tr].mean(0) - lam * C[tr].mean(0)))
            for t in np.unique(tasks[te]):
                sel = tr[tasks[tr] == t]
                a = int(np.argmax(Q[sel].mean(0) - lam * C[sel].mean(0))) if len(sel) else overall
                rows_t = te[tasks[te] == t]
                q[li] += Q[rows_t, a].sum()
                c[li] += C[rows_t, a].sum()
    return list(zip((c / len(rows)).tolist(), (q / len(rows)).tolist()))


def evaluate_file(path: Path, k: int, rows: list[Row] | None = None, **kw) -> tuple[dict, Sweep]:
    """One file's figures and the router's sweep (by ``evaluate.cross_validate`` with ``kw``;
    the sweep holds the decisions ``--decisions`` writes); ``rows``: the file's, if read already."""
    from .evaluate import cross_validate, summarise

    rows = load_rows(path) if rows is None else rows
    t0 = time.perf_counter()
    sweep = cross_validate(rows, k, **kw)
    s = summarise(sweep, rows)
    singles = s["baselines"]["singles"].values()
    lo, hi = min(c for c, _ in singles), max(c for c, _ in singles)
    rule = task_rule_points(rows, k)
    s["task_rule_aiq"] = M.aiq(rule, lo, hi)
    s["below_rule_share"], s["below_rule_max"] = M.hull_shortfall(s["points"], rule, lo, hi)
    s["seconds"] = time.perf_counter() - t0
    s["rows"] = len(rows)
    s["file"] = path.name
    return s, sweep


BELOW_RULE = (
    "below rule: share of the cost range both hulls cover (from the dearer of their cheapest points to the "
    "dearest single model) where faregate's hull is more than 0.0001 below the per-task rule's, and the largest "
    "gap there; -: never below"
)


def print_all(console, results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(console.width, 150))  # one line per data set, even in a pipe

    def f(x, pct=False):
        return "-" if x is None else (f"{x:.1f}%" if pct else f"{x:.4f}")

    t = Table(title="cross-validated AIQ per data set (higher is better)", caption=BELOW_RULE)
    for name in (
        "data",
        "rows",
        "zero router",
        "per-task rule",
        "faregate",
        "below rule",
        "oracle",
        "APGR",
        "ECE",
        "judge ECE",
        "match cost",
        "s",
    ):
        t.add_column(name, justify="left" if name == "data" else "right")
    for s in results:
        t.add_row(
            s["file"],
            str(s["rows"]),
            f(s["zero_router_aiq"]),
            f(s["task_rule_aiq"]),
            f(s["aiq"]),
            "-" if not s["below_rule_share"] else f"{100 * s['below_rule_share']:.1f}% by {s['below_rule_max']:.4f}",
            f(s["oracle_aiq"]),
            f(s.get("apgr")),
            f(s.get("ece")),
            " ".join(f"{k} {v['ece']:.3f}" for k, v in (s.get("judges") or {}).items()) or "-",
            f(s["cost_to_match_pct"], pct=True),
            f"{s['seconds']:.0f}",
        )
    console.print(t)
