"""Offline evaluation of the router on routing-outcomes data.

``cross_validate(rows, k)`` and ``train_test(train, test)`` fit the router, predict every
held-out row's arms (singles and cascades), then sweep the cost/quality knob ``lambda``
(choose the arm maximising predicted quality - lambda * predicted cost) and score each point
with the README's rule (cost summed over the models called, quality of the last one).
``summarise`` turns that into AIQ, cost to match the best single model, max quality, APGR/CPT
for two-model data, and baselines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import metrics as M
from .calibrate import expected_calibration_error, reliability
from .cascade import simulate
from .data import OutcomeTable, Row, kfold, models_of
from .embed import HashEmbedder
from .embedder import Embedder
from .judges import judge_points, summarise_judges
from .model import RouterModel, row_features
from .pair import pair_cascade

CALIB_FLOORS = (0.5, 0.8)  # quality floors at which held-out p_meet is checked
LAMBDAS = np.concatenate([[0.0], np.geomspace(1.0, 1e7, 100)])  # quality per USD; 1e7 ~ cheapest


@dataclass
class Sweep:
    lambdas: np.ndarray
    cost: np.ndarray  # (points,) mean cost per query
    quality: np.ndarray  # (points,) mean quality
    decisions: list[list[tuple[str, list[str]]]]  # per point: (row id, models called)
    strong_score: np.ndarray | None = None  # two-model data: predicted gain of the strong model
    rows: list[Row] = field(default_factory=list)  # in the order of strong_score
    # Calibration check: held-out p_meet of every plan at CALIB_FLOORS and whether it was met.
    calib_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    calib_hit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    judges: dict = field(default_factory=dict)  # per judge: held-out ECE and reliability rows

    @property
    def points(self) -> list[tuple[float, float]]:
        return list(zip(self.cost.tolist(), self.quality.tolist()))


@dataclass
class _FoldOut:
    quality: np.ndarray  # (points,) summed over the fold's rows
    cost: np.ndarray
    decisions: list
    gain: np.ndarray | None  # two-model data: the ranking score of the strong model
    calib: tuple[np.ndarray, np.ndarray]
    judges: dict


def _fold(model: RouterModel, train: list[Row], test: list[Row], E: np.ndarray, lambdas: np.ndarray) -> _FoldOut:
    feats = [row_features(r) for r in test]
    groups = np.array([model.group_of(f.task) for f in feats])
    tokens = np.array([f.input_tokens for f in feats], float)
    Qh, Ch, _ = model.predict_matrix(E, groups, tokens)
    table = OutcomeTable.from_rows(test, model.models)
    scores = None
    if model.scorer is not None:
        scores = {
            m: model.scorer.score(m, E, groups, [r[table.models.index(m)] for r in table.responses])
            for m in model.scorer.per_model
        }
    sims = [simulate(a, table, scores) for a in model.arms]
    Q = np.stack([s[0] for s in sims], 1)
    C = np.stack([s[1] for s in sims], 1)
    pair = _two(model)
    gain = None if pair is None else Qh[:, pair[0]] - Qh[:, pair[1]]
    weak = None if pair is None else model.arms[pair[1]].models[0]
    if pair is not None and weak is not None and scores is not None and weak in scores:
        # The weak model answers first; its answer's score joins the ranking (one code path:
        # the decisions below are what APGR is computed from).
        gain = model.pair_weight * Qh[:, pair[0]] - scores[weak]
        qs, cs, dec = pair_cascade(test, table, model.arms[pair[0]].models[0], weak, gain, len(lambdas))
    else:
        qs, cs, dec = [], [], []
        for pick in _picks(model, Qh, Ch, lambdas):
            r = np.arange(len(test))
            qs.append(Q[r, pick].sum())
            cs.append(C[r, pick].sum())
            dec.append(
                [
                    (test[i].id, [m for s, m in enumerate(model.arms[a].models) if sims[a][2][i, s]])
                    for i, a in enumerate(pick)
                ]
            )
    ps = [np.asarray(model.p_meet(Qh.ravel(), f)) for f in CALIB_FLOORS]
    hits = [(Q >= f - 1e-9).ravel() for f in CALIB_FLOORS]
    gtr = np.array([model.group_of(r.task) for r in train])
    judges = judge_points(model, OutcomeTable.from_rows(train, model.models), gtr, table, groups, scores)
    return _FoldOut(np.array(qs), np.array(cs), dec, gain, (np.concatenate(ps), np.concatenate(hits)), judges)


def _two(model: RouterModel) -> tuple[int, int] | None:
    """(strong, weak) single-model arm columns for a two-model router (strong: the better mean
    quality in training), else None."""
    if len(model.models) != 2:
        return None
    col = {a.key: i for i, a in enumerate(model.arms)}
    s, w = (col[m] for m in model.models)
    return (s, w) if model.train_quality[0] >= model.train_quality[1] else (w, s)


def _picks(model: RouterModel, Qh: np.ndarray, Ch: np.ndarray, lambdas: np.ndarray) -> Iterator[np.ndarray]:
    """The plan chosen for each row at each knob point. Many models: the Lagrangian
    argmax(quality - lambda * cost), every point on the hull. A strong/weak pair: the knob is
    the share of strong calls (cost is the constraint), given to the rows with the largest
    predicted quality gain, not gain per dollar; the points are shares 0..1."""
    pair = _two(model)
    if pair is None:
        for lam in lambdas:
            yield (Qh - lam * Ch).argmax(1)
        return
    s, w = pair
    order = M.rank_desc(Qh[:, s] - Qh[:, w])
    n = len(Qh)
    for share in np.linspace(0.0, 1.0, len(lambdas)):
        pick = np.full(n, w)
        pick[order[: int(round(share * n))]] = s
        yield pick


def _run(
    folds: list[tuple[list[Row], list[Row]]],
    E_of: Callable[[list[Row]], np.ndarray],
    fit: Callable[[list[Row], np.ndarray], RouterModel],
    lambdas: np.ndarray,
    progress: Callable[[], None] | None = None,
) -> Sweep:
    n = sum(len(te) for _, te in folds)
    qsum = np.zeros(len(lambdas))
    csum = np.zeros(len(lambdas))
    decisions: list[list] = [[] for _ in lambdas]
    scores, order, calib, judges = [], [], [], []
    for train, test in folds:
        model = fit(train, E_of(train))
        out = _fold(model, train, test, E_of(test), lambdas)
        calib.append(out.calib)
        judges.append(out.judges)
        if out.gain is not None:  # the predicted gain of the strong model (as ranked)
            scores.append(out.gain)
            order.extend(test)
        qsum += out.quality
        csum += out.cost
        for p, d in enumerate(out.decisions):
            decisions[p].extend(d)
        if progress:
            progress()
    if scores:  # two-model points are shares of strong calls (see _picks)
        lambdas = np.linspace(0.0, 1.0, len(lambdas))
    sweep = Sweep(lambdas, csum / n, qsum / n, decisions, np.concatenate(scores) if scores else None, order)
    sweep.calib_p = np.concatenate([p for p, _ in calib])
    sweep.calib_hit = np.concatenate([h for _, h in calib]).astype(float)
    sweep.judges = summarise_judges(judges)
    return sweep


class _Embeds:
    """Embed each row once, whatever fold it lands in."""

    def __init__(self, rows: list[Row], embedder: Embedder) -> None:
        texts = [row_features(r).routing_text for r in rows]
        self.E = embedder.embed(texts)
        self.ix = {id(r): i for i, r in enumerate(rows)}

    def __call__(self, rows: list[Row]) -> np.ndarray:
        return self.E[[self.ix[id(r)] for r in rows]]


def _fit(tr: list[Row], E, **kw) -> RouterModel:
    """One fold's router, fitted on rows whose embeddings ``E`` are computed once for the sweep."""
    return RouterModel.fit(tr, embeddings=E, **kw)


def cross_validate(
    rows: list[Row],
    k: int = 5,
    *,
    embedder: Embedder | None = None,
    predictor: str = "knn",
    predictor_args: dict | None = None,
    cascades: bool = True,
    lambdas=LAMBDAS,
    progress=None,
    seed: int = 0,
    scorer: bool = False,
) -> Sweep:
    embedder = embedder or HashEmbedder()
    emb = _Embeds(rows, embedder)
    folds = [([rows[i] for i in tr], [rows[i] for i in te]) for tr, te in kfold(rows, k, seed)]

    fit = partial(
        _fit, embedder=embedder, predictor=predictor, cascades=cascades, predictor_args=predictor_args, scorer=scorer
    )
    return _run(folds, emb, fit, lambdas, progress)


def train_test(
    train: list[Row],
    test: list[Row],
    *,
    embedder: Embedder | None = None,
    predictor: str = "knn",
    predictor_args: dict | None = None,
    cascades: bool = True,
    lambdas=LAMBDAS,
    progress=None,
    scorer: bool = False,
) -> Sweep:
    embedder = embedder or HashEmbedder()
    emb = _Embeds(train + test, embedder)

    fit = partial(
        _fit, embedder=embedder, predictor=predictor, cascades=cascades, predictor_args=predictor_args, scorer=scorer
    )
    return _run([(train, test)], emb, fit, lambdas, progress)


def baselines(rows: list[Row], seed: int = 0) -> dict:
    """Each single model's (cost, quality), oracle (cheapest best model per row), random
    (a uniformly random model per row, seeded), zero router (hull of the singles)."""
    table = OutcomeTable.from_rows(rows)
    singles = {
        m: (float(table.cost[:, j].mean()), float(table.quality[:, j].mean())) for j, m in enumerate(table.models)
    }
    best_q = table.quality.max(1, keepdims=True)
    c = np.where(table.quality >= best_q, table.cost, np.inf).min(1)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(table.models), len(rows))
    r = np.arange(len(rows))
    return {
        "singles": singles,
        "oracle": (float(c.mean()), float(best_q.mean())),
        "random": (float(table.cost[r, pick].mean()), float(table.quality[r, pick].mean())),
    }


def task_level_ceiling(rows: list[Row], lambdas=LAMBDAS) -> list[tuple[float, float]]:
    """In-sample points of the best plan per task for each knob value: what routing by task
    alone could reach at most with the same plans (a diagnostic, not a router)."""
    from .cascade import candidate_arms

    table = OutcomeTable.from_rows(rows)
    arms = candidate_arms(table)
    sims = [simulate(a, table) for a in arms]
    Q = np.stack([x[0] for x in sims], 1)
    C = np.stack([x[1] for x in sims], 1)
    tasks = np.array([r.task or "" for r in rows])
    pts = []
    for lam in lambdas:
        q = c = 0.0
        for t in np.unique(tasks):
            m = tasks == t
            a = int(np.argmax(Q[m].mean(0) - lam * C[m].mean(0)))
            q += Q[m, a].sum()
            c += C[m, a].sum()
        pts.append((c / len(rows), q / len(rows)))
    return pts


def summarise(sweep: Sweep, rows: list[Row]) -> dict:
    base = baselines(rows)
    singles = base["singles"]
    lo = min(c for c, _ in singles.values())
    hi = max(c for c, _ in singles.values())
    best_name, (best_c, best_q) = max(singles.items(), key=lambda kv: (kv[1][1], -kv[1][0]))
    pts = sweep.points
    match = M.cost_to_reach(pts, best_q)
    out = {
        "aiq": M.aiq(pts, lo, hi),
        "zero_router_aiq": M.aiq(list(singles.values()), lo, hi),
        "max_quality": max(q for _, q in pts),
        "best_single": best_name,
        "best_single_quality": best_q,
        "best_single_cost": best_c,
        "cost_to_match_pct": None if match is None else 100.0 * match / best_c,
        "quality_at_35pct": M.hull_value(M.upper_hull(pts), 0.35 * best_c),
        "cost_to_99pct_pct": (lambda c: None if c is None else 100.0 * c / best_c)(M.cost_to_reach(pts, 0.99 * best_q)),
        "baselines": base,
        "points": pts,
    }
    o_c, o_q = base["oracle"]
    out["oracle_aiq"] = M.aiq([*singles.values(), (o_c, o_q)], lo, hi)
    out["task_ceiling_aiq"] = M.aiq(task_level_ceiling(rows), lo, hi)
    out["judges"] = sweep.judges
    if len(sweep.calib_p):
        out["ece"] = expected_calibration_error(sweep.calib_p, sweep.calib_hit)
        out["reliability"] = reliability(sweep.calib_p, sweep.calib_hit)
    if len(singles) == 2 and sweep.strong_score is not None:
        share, pgr = _pgr(sweep, rows)
        out.update(
            apgr=M.apgr(share, pgr), cpt50=M.cpt(share, pgr, 0.5), cpt80=M.cpt(share, pgr, 0.8), pgr_curve=(share, pgr)
        )
    return out


def _pgr(sweep: Sweep, rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """PGR curve from the sweep's own decisions (what ``--decisions`` writes)."""
    models = models_of(rows)
    t = OutcomeTable.from_rows(rows, models)
    s = int(np.argmax(t.quality.mean(0)))
    q = {m: {r.id: float(t.quality[i, j]) for i, r in enumerate(rows)} for j, m in enumerate(models)}
    return M.pgr_from_decisions(sweep.decisions, models[s], q[models[s]], q[models[1 - s]])


def iter_decisions(sweep: Sweep) -> Iterator[dict]:
    for lam, dec in zip(sweep.lambdas, sweep.decisions):
        point = float(lam)
        for rid, models in dec:
            yield {"point": point, "id": rid, "models": models}
