"""``RouterModel``: learned per-request predictions of every model's (and cascade's) quality
and cost, trained on routing-outcomes rows, saved to one ``.npz`` file (arrays plus a JSON
header; loaded with ``allow_pickle=False``).

    model = RouterModel.fit(rows)                 # rows from data.load_rows
    model.save("router.model"); model = RouterModel.load("router.model")
    feats = features.extract(messages, tools, response_format, task)
    model.predict(feats)      -> {model_name: {"quality": p, "cost_usd": c}}
    model.predict_arms(feats) -> [ArmPrediction(arm, quality, cost_usd, reach)]  # singles + cascades

Names are those of the training data; ``predict(..., names={data_name: gateway_name})``
renames (models missing from the mapping are left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from . import features as F
from .calibrate import Calibration, fallback_p_meet, out_of_fold
from .cascade import Arm, candidate_arms, cheap_models, json_valid, prune_arms, run_agreement, simulate
from .data import OutcomeTable, Row
from .embed import HashEmbedder, get_embedder
from .embedder import Embedder
from .pair import fit_weight
from .predictors import PREDICTORS, CostModel
from .scorer import fit_judge

FORMAT = "faregate-router/1"
SCORER_THRESHOLDS = (0.5, 0.7, 0.85)
MIN_TRAIN_ROWS = 2  # the kNN's out-of-fold calibration needs a neighbour for every held-out row


@dataclass
class ArmPrediction:
    arm: Arm
    quality: float
    cost_usd: float
    reach: list[float]  # probability each model in arm.models is called (1.0 for the first)

    def as_dict(self) -> dict:
        return {
            "plan": self.arm.key,
            "kind": self.arm.kind,
            "models": list(self.arm.models),
            "judge": self.arm.judge,
            "quality": round(self.quality, 4),
            "cost_usd": self.cost_usd,
            "reach": [round(r, 4) for r in self.reach],
        }


def row_features(row: Row) -> F.RequestFeatures:
    return F.extract(row.messages, task=row.task)


class RouterModel:
    def __init__(self, models, tasks, arms, embedder, predictor, cost_models, scorer=None) -> None:
        self.scorer = scorer  # AnswerScorer, when plans with a learned judge were trained
        self.models: list[str] = models
        self.tasks: list[str] = tasks
        self.arms: list[Arm] = arms
        self.embedder: Embedder = embedder
        self.predictor = predictor
        self.cost_models: list[CostModel] = cost_models
        self._task_ix = {t: i for i, t in enumerate(tasks)}
        self._reach_cols: list[list[int]] = []
        col = len(arms)
        for a in arms:
            cols = []
            for _ in a.models[a.always :]:
                cols.append(col)
                col += 1
            self._reach_cols.append(cols)
        self._mix = [[self.models.index(m) for m in a.models] for a in arms]
        self._costW: np.ndarray | None = None
        self._stage_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        # Median answer length per (task, model) in tokens, from recorded responses; NaN if none.
        self.output_tokens = np.full((len(tasks) + 1, len(models)), np.nan)
        # Maps a predicted mean to P(outcome >= floor); None for files saved before it existed.
        self.calibration: Calibration | None = None
        self.train_quality = np.full(len(models), np.nan)  # mean quality of each model in training
        # Two-model cascade: gain = pair_weight * predicted strong quality - P(weak answer right).
        self.pair_weight = 1.0

    # -- training ---------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        rows: list[Row],
        *,
        embedder: Embedder | None = None,
        predictor: str = "knn",
        cascades: bool = True,
        predictor_args: dict | None = None,
        embeddings: np.ndarray | None = None,
        scorer: bool = False,
    ) -> RouterModel:
        """Fit on rows. With ``predictor_args=None`` a kNN's settings are chosen by inner
        cross-validation on these rows (``tune.select_knn``). ``embeddings`` may pass precomputed ``embedder.embed`` of the rows'
        routing texts (cross-validation embeds once). ``ValueError`` for fewer than
        ``MIN_TRAIN_ROWS`` rows."""
        if len(rows) < MIN_TRAIN_ROWS:
            raise ValueError(f"the router needs at least {MIN_TRAIN_ROWS} training rows, got {len(rows)}")
        table = OutcomeTable.from_rows(rows)
        feats = [row_features(r) for r in rows]
        tasks = sorted({f.task for f in feats if f.task})
        tix = {t: i for i, t in enumerate(tasks)}
        groups = np.array([tix.get(f.task or "", -1) for f in feats])
        embedder = embedder or HashEmbedder()
        E = embeddings if embeddings is not None else embedder.embed([f.routing_text for f in feats])
        thresholds = SCORER_THRESHOLDS if scorer and cascades else ()
        arms = candidate_arms(table, scorer_thresholds=thresholds) if cascades else [Arm((m,)) for m in table.models]
        scored = cheap_models(arms)  # a pair's weak model too: candidate_arms gives it [weak, strong] plans
        judge, scores = fit_judge(table, E, groups, len(tasks), scored)
        sims = [simulate(a, table, scores) for a in arms]
        Q = np.stack([s[0] for s in sims], 1)
        C = np.stack([s[1] for s in sims], 1)
        keep = prune_arms(arms, Q, C, groups)
        reach = [sims[i][2][:, arms[i].always :] for i in keep]
        arms = [arms[i] for i in keep]
        Y = np.hstack([Q[:, keep], *reach]) if reach else Q[:, keep]
        if predictor_args is None and predictor == "knn":
            from .tune import select_knn

            singles = [i for i, a in enumerate(arms) if a.judge is None]
            predictor_args = select_knn(E, groups, Y, Q[:, keep], C[:, keep], singles, len(tasks))
        pred = PREDICTORS[predictor](**(predictor_args or {})).fit(E, groups, Y, len(tasks))
        calib, oof = _calibration(PREDICTORS[predictor], predictor_args or {}, E, groups, Y, Q[:, keep], len(tasks))
        tokens = np.array([f.input_tokens for f in feats], float)
        costs = [CostModel().fit(tokens, groups, table.cost[:, j], len(tasks)) for j in range(len(table.models))]
        out = cls(table.models, tasks, arms, embedder, pred, costs, judge)
        out.calibration = calib
        if scores is not None and len(table.models) == 2:
            out.pair_weight = fit_weight(arms, table, oof, scores)
        out.train_quality = np.nanmean(table.quality, 0)
        out.output_tokens = _output_tokens(table, groups, len(tasks))
        return out

    # -- judging a cascade's answers live -------------------------------------------------------

    def accept(
        self,
        judge: str | None,
        feats: F.RequestFeatures,
        models: list[str],
        answers: list[str | None],
        schema: dict | None = None,
        names: dict[str, str] | None = None,
    ) -> bool:
        """Whether a cascade stops at its latest answer. ``models``: the models called so far
        (data names, or gateway names with ``names`` mapping data -> gateway as in
        ``candidates``), ``answers`` their answers in order. "agree": the latest agrees with an
        earlier one; "json": it is valid JSON (against ``schema`` if given); "scorer@T": the
        learned scorer gives it P(correct) >= T."""
        if not answers or answers[-1] is None:
            return False
        if judge == "agree":
            return len(answers) >= 2 and run_agreement(answers)
        if judge == "json":
            return json_valid(answers[-1], schema)
        if judge and judge.startswith("scorer@") and self.scorer is not None:
            m = models[-1]
            if names is not None:
                m = {g: d for d, g in names.items()}.get(m, m)
            if m not in self.scorer.per_model:
                return False
            E = self.embedder.embed([feats.routing_text])
            p = self.scorer.score(m, E, np.array([self.group_of(feats.task)]), [answers[-1]])[0]
            return bool(p >= float(judge.split("@", 1)[1]))
        return False

    # -- prediction ---------------------------------------------------------------------------

    def group_of(self, task: str | None) -> int:
        return self._task_ix.get(task, -1) if task else -1

    def predict_matrix(self, E: np.ndarray, groups: np.ndarray, tokens: np.ndarray):
        """Batch form: ``(quality, cost, model_cost)`` arrays of shapes (m, arms), (m, arms),
        (m, models)."""
        Y = self.predictor.predict(E, groups)
        mc = self._model_costs_vec(np.asarray(tokens, float), groups)
        Q = Y[:, : len(self.arms)]
        C = np.empty_like(Q)
        for a, mix in enumerate(self._mix):
            always = self.arms[a].always
            cost = mc[:, mix[0]].copy()
            for s, j in enumerate(mix[1:], 1):
                cost += mc[:, j] * (1.0 if s < always else Y[:, self._reach_cols[a][s - always]])
            C[:, a] = cost
        return Q, C, mc

    def _model_costs_vec(self, tokens: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """(m, models) learned per-call cost, one matrix product for every model."""
        if self._costW is None:
            self._costW = np.stack([c.W for c in self.cost_models], 1)
        return np.exp(self.cost_models[0]._design(tokens, groups) @ self._costW)

    def _stages(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per plan and stage: the model index, the reach column (-1: always called) and whether
        the stage exists, as (arms, max stages) arrays, so one request's plans are priced at once."""
        if self._stage_arrays is None:
            S = max((len(m) for m in self._mix), default=1)
            model_ix = np.zeros((len(self.arms), S), dtype=np.intp)
            col = np.full((len(self.arms), S), -1, dtype=np.intp)
            valid = np.zeros((len(self.arms), S), dtype=bool)
            for a, mix in enumerate(self._mix):
                always = self.arms[a].always
                for s, j in enumerate(mix):
                    model_ix[a, s], valid[a, s] = j, True
                    if s >= always:
                        col[a, s] = self._reach_cols[a][s - always]
            self._stage_arrays = (model_ix, col, valid)
        return self._stage_arrays

    def _predict_one(self, feats: F.RequestFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One request: each plan's predicted quality (arms,), each stage's reach probability
        (arms, stages; 0 past a plan's last stage) and each model's learned call cost (models,)."""
        E = self.embedder.embed([feats.routing_text])
        g = np.array([self.group_of(feats.task)])
        Y = self.predictor.predict(E, g)[0]
        mc = self._model_costs_vec(np.array([float(feats.input_tokens)]), g)[0]
        _, col, valid = self._stages()
        reach = np.where(col >= 0, Y[col], 1.0) * valid
        return Y[: len(self.arms)], reach, mc

    def predict_arms(self, feats: F.RequestFeatures) -> list[ArmPrediction]:
        Q, reach, mc = self._predict_one(feats)
        model_ix, _, valid = self._stages()
        # A padded stage costs nothing, even where model 0's learned cost is not finite.
        cost = np.where(valid, reach * mc[model_ix], 0.0).sum(1)
        return [
            ArmPrediction(arm, q, c, r[: len(arm.models)])
            for arm, q, c, r in zip(self.arms, Q.tolist(), cost.tolist(), reach.tolist())
        ]

    def predict_output_tokens(self, feats: F.RequestFeatures) -> dict[str, float]:
        """Typical answer length (tokens) of each model for this request's task, for models whose
        answers the training data recorded (others are left out: use a per-task default)."""
        g = self.group_of(feats.task)
        row = self.output_tokens[g if g >= 0 else len(self.tasks)]
        return {m: float(v) for m, v in zip(self.models, row) if np.isfinite(v)}

    def predict(self, feats: F.RequestFeatures, names: dict[str, str] | None = None) -> dict[str, dict]:
        """Per single model: ``{"quality": p, "cost_usd": c}`` (data names, or renamed)."""
        out = {}
        for p in self.predict_arms(feats):
            if p.arm.judge is None:
                name = p.arm.models[0] if names is None else names.get(p.arm.models[0])
                if name is not None:
                    out[name] = {"quality": p.quality, "cost_usd": p.cost_usd}
        return out

    def candidates(
        self,
        feats: F.RequestFeatures,
        *,
        latency_ms: dict[str, float],
        names: dict[str, str] | None = None,
        cost_usd: dict[str, float] | None = None,
        cascades: bool = True,
        floor: float | None = None,
    ):
        """Policy candidates for one request, in gateway names.

        ``names`` maps data model names to gateway names (default: identity; data models missing
        from it are skipped); ``latency_ms`` gives each gateway model's predicted p95 latency
        (a model missing from it is skipped); ``cost_usd``, if given, replaces the learned
        per-call cost of a gateway model (e.g. its prices x estimated tokens). With ``floor``
        each candidate's ``p_meet`` is the calibrated P(final answer's quality >= floor)."""
        from .policy import Candidate

        Q, reach, mc = self._predict_one(feats)
        model_ix, _, valid = self._stages()
        # Gateway name per data model; None (unmapped) only on plans left out below.
        gw: list[Any] = list(self.models) if names is None else [names.get(m) for m in self.models]
        # Per data model: its gateway latency and its configured cost (NaN: not configured).
        lat = np.array([latency_ms.get(g, np.nan) if g is not None else np.nan for g in gw])
        over = np.array([(cost_usd or {}).get(g, np.nan) if g is not None else np.nan for g in gw])
        usable = (~np.isnan(lat[model_ix]) | ~valid).all(1)
        if not cascades:
            usable &= np.array([a.judge is None for a in self.arms])
        configured = (~np.isnan(over[model_ix]) | ~valid).all(1)
        stage = np.where(configured[:, None], over[model_ix], mc[model_ix])
        stage = np.where(valid, stage, 0.0)
        expected = (reach * stage).sum(1)
        worst = stage.sum(1)
        latency = np.where(valid, lat[model_ix], 0.0).sum(1)
        ix = np.nonzero(usable)[0]
        pm = self.p_meet(Q[ix], floor) if floor is not None else [None] * len(ix)
        return [
            Candidate(tuple(gw[j] for j in self._mix[a]), q, e, t, self.arms[a].judge, w, p_meet=p)
            for a, q, e, t, w, p in zip(
                ix.tolist(), Q[ix].tolist(), expected[ix].tolist(), latency[ix].tolist(), worst[ix].tolist(), pm
            )
        ]

    def p_meet(self, quality, floor: float) -> list[float]:
        """Calibrated P(outcome >= floor) for predicted mean qualities."""
        q = np.asarray(quality, float)
        p = self.calibration.p_meet(q, floor) if self.calibration is not None else fallback_p_meet(q, floor)
        return [float(v) for v in np.atleast_1d(p)]

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        header = {
            "format": FORMAT,
            "models": self.models,
            "tasks": self.tasks,
            "arms": [a.key for a in self.arms],
            "embedder": self.embedder.name,
            "predictor": self.predictor.kind,
            "n_cost": len(self.cost_models),
            "pair_weight": self.pair_weight,
        }
        arrays = {f"p_{k}": v for k, v in self.predictor.state().items()}
        for j, c in enumerate(self.cost_models):
            arrays[f"cost_{j}"] = c.W
            arrays[f"costg_{j}"] = np.array([c.n_groups, c.lo, c.hi])
        if self.scorer is not None:
            arrays.update({f"s_{k}": v for k, v in self.scorer.state().items()})
        arrays["output_tokens"] = self.output_tokens
        arrays["train_quality"] = self.train_quality
        if self.calibration is not None:
            arrays["calib"] = self.calibration.table
        arrays["header"] = np.frombuffer(orjson.dumps(header), dtype=np.uint8)
        with open(path, "wb") as f:  # np.savez would append ".npz" to a bare path
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> RouterModel:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        header = orjson.loads(data["header"].tobytes())
        if header.get("format") != FORMAT:
            raise ValueError(f"{path}: not a faregate router file (format {header.get('format')!r})")
        pred = PREDICTORS[header["predictor"]].from_state({k[2:]: v for k, v in data.items() if k.startswith("p_")})
        costs = []
        for j in range(header["n_cost"]):
            c = CostModel()
            g = data[f"costg_{j}"]
            c.W, c.n_groups, c.lo, c.hi = data[f"cost_{j}"], int(g[0]), float(g[1]), float(g[2])
            costs.append(c)
        scorer = None
        sst = {k[2:]: v for k, v in data.items() if k.startswith("s_")}
        if sst:
            from .scorer import AnswerScorer

            scorer = AnswerScorer.from_state(header["models"], sst)
        out = cls(
            header["models"],
            header["tasks"],
            [Arm.from_key(k) for k in header["arms"]],
            get_embedder(header["embedder"]),
            pred,
            costs,
            scorer,
        )
        if "output_tokens" in data:
            out.output_tokens = data["output_tokens"]
        if "train_quality" in data:
            out.train_quality = data["train_quality"]
        if "calib" in data:  # absent in files saved before calibration: fallback_p_meet
            out.calibration = Calibration(data["calib"])
        out.pair_weight = float(header.get("pair_weight", 1.0))
        return out


def _calibration(cls, args: dict, E, groups, Y, Q, n_groups: int) -> tuple[Calibration, np.ndarray]:
    """Fit the floor calibration on out-of-fold predictions of the plans' quality (returned too)."""
    oof = out_of_fold(lambda: cls(**args), E, groups, Y, n_groups)
    return Calibration.fit(oof[:, : Q.shape[1]], Q), oof


def _output_tokens(table: OutcomeTable, groups: np.ndarray, n_groups: int) -> np.ndarray:
    lengths = np.array(
        [[np.nan if r is None else max(1, -(-len(r) // F.CHARS_PER_TOKEN)) for r in row] for row in table.responses],
        dtype=float,
    )
    out = np.full((n_groups + 1, len(table.models)), np.nan)
    for g in range(n_groups + 1):
        sel = np.ones(len(groups), bool) if g == n_groups else groups == g
        for j in range(len(table.models)):
            col = lengths[sel, j]
            col = col[np.isfinite(col)]
            if len(col):
                out[g, j] = float(np.median(col))
    return out
