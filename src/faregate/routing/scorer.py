"""A learned judge: the probability that a model's answer to a prompt is right.

``AnswerScorer`` fits, per model, an L2-regularised logistic regression on
``[prompt embedding, answer features, task one-hot, 1]`` from the recorded ``response`` and
``quality`` fields of routing-outcomes rows. Answer features: a hashed embedding of the
answer's text plus a few shape signals (length, a bare option letter, a code block, a
function definition, refusal words). ``score(model, prompt_embedding, group, answer)``
returns P(correct); a cascade with judge ``"scorer@T"`` accepts an answer when P >= T.

``out_of_fold`` gives honest scores on the training rows themselves (inner folds), which is
what the arm predictors learn from; ``select`` chooses the scorer's settings (feature set and
regularisation, ``SETTINGS``) by the Brier score of those inner-fold scores, so no setting is
ever chosen on the rows a figure is measured on. ``features="shape"`` drops the prompt and
answer embeddings: on a few hundred rows the shape signals alone generalise better.
"""

from __future__ import annotations

import re

import numpy as np

from .data import OutcomeTable
from .embed import HashEmbedder
from .predictors import LogisticPredictor

_LETTER = re.compile(r"^\W*\(?[A-Ea-e]\)?\W*$")
_REFUSAL = re.compile(r"\b(i'?m sorry|i cannot|i can't|as an ai|unable to|i do not|i don't)\b", re.I)
_ITEM = re.compile(r"^\s*(?:[-*]|\d+[.)])\s", re.M)
ANSWER_DIM = 128
SHAPE_DIM = 10
SETTINGS = (
    {"features": "full", "l2": 3e-3},
    {"features": "shape", "l2": 3e-3},
    {"features": "shape", "l2": 3e-2},
)


def answer_features(answers: list[str | None], emb: HashEmbedder | None) -> np.ndarray:
    """Shape signals of each answer (``SHAPE_DIM`` columns), after its hashed embedding when
    ``emb`` is given."""
    texts = [a or "" for a in answers]
    shape = np.array(
        [
            [
                np.log1p(len(t)) / 8.0,
                bool(_LETTER.match(t)),
                "```" in t,
                "def " in t or "function" in t,
                bool(_REFUSAL.search(t[:300])),
                not t.strip(),
                len(t) < 200,
                t.count("\n") / 50.0,
                t.count("```") / 4.0,
                len(_ITEM.findall(t)) / 10.0,
            ]
            for t in texts
        ],
        dtype=np.float32,
    )
    if emb is None:
        return shape
    return np.hstack([emb.embed([t[:2000] for t in texts]), shape])


class AnswerScorer:
    def __init__(self, models: list[str], l2: float = 3e-3, steps: int = 200, features: str = "full") -> None:
        if features not in ("full", "shape"):
            raise ValueError(f"scorer features must be 'full' or 'shape', not {features!r}")
        self.models = models
        self.l2, self.steps, self.features = l2, steps, features
        self.emb = HashEmbedder(ANSWER_DIM)
        self.per_model: dict[str, LogisticPredictor] = {}

    def _X(self, E: np.ndarray, answers: list[str | None]) -> np.ndarray:
        if self.features == "shape":
            return answer_features(answers, None)
        return np.hstack([E, answer_features(answers, self.emb)])

    def fit(
        self,
        E: np.ndarray,
        groups: np.ndarray,
        n_groups: int,
        responses: list[list[str | None]],
        quality: np.ndarray,
        models: list[str] | None = None,
    ) -> AnswerScorer:
        """``responses[i][j]`` / ``quality[i, j]``: row i, model ``self.models[j]``."""
        for j, m in enumerate(self.models):
            if models is not None and m not in models:
                continue
            X = self._X(E, [r[j] for r in responses])
            self.per_model[m] = LogisticPredictor(self.l2, self.steps).fit(X, groups, quality[:, [j]], n_groups)
        return self

    def score(self, model: str, E: np.ndarray, groups: np.ndarray, answers: list[str | None]) -> np.ndarray:
        return self.per_model[model].predict(self._X(E, answers), groups)[:, 0]

    def state(self) -> dict:
        out = {"x_cfg": np.array([self.l2, self.steps, float(self.features == "shape")])}
        for m, p in self.per_model.items():
            for k, v in p.state().items():
                out[f"{self.models.index(m)}_{k}"] = v
        return out

    @classmethod
    def from_state(cls, models: list[str], st: dict) -> AnswerScorer:
        cfg = st.get("x_cfg")
        s = cls(models) if cfg is None else cls(models, float(cfg[0]), int(cfg[1]), "shape" if cfg[2] else "full")
        for j, m in enumerate(models):
            sub = {k.split("_", 1)[1]: v for k, v in st.items() if k.split("_", 1)[0] == str(j)}
            if sub:
                s.per_model[m] = LogisticPredictor.from_state(sub)
        return s


def out_of_fold(
    E,
    groups,
    n_groups,
    responses,
    quality,
    models: list[str],
    which: list[str],
    folds: int = 3,
    seed: int = 0,
    settings: dict | None = None,
) -> dict[str, np.ndarray]:
    """Scores of ``which`` models on every training row, each from a scorer that did not see it."""
    n = len(E)
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = {m: np.zeros(n) for m in which}
    for f in range(folds):
        tr, te = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        sc = AnswerScorer(models, **(settings or {})).fit(
            E[tr], groups[tr], n_groups, [responses[i] for i in tr], quality[tr], which
        )
        for m in which:
            j = models.index(m)
            out[m][te] = sc.score(m, E[te], groups[te], [responses[i][j] for i in te])
    return out


def select(
    E, groups, n_groups, responses, quality, models: list[str], which: list[str], grid=SETTINGS
) -> tuple[dict, dict[str, np.ndarray]]:
    """The scorer settings with the lowest inner-fold Brier score over ``which`` models' answers,
    and that setting's out-of-fold scores (reused by the caller, so selection costs no extra fit)."""
    best: tuple[float, dict, dict[str, np.ndarray]] | None = None
    for settings in grid:
        oof = out_of_fold(E, groups, n_groups, responses, quality, models, which, settings=settings)
        brier = float(np.mean([np.mean((oof[m] - quality[:, models.index(m)]) ** 2) for m in which]))
        if best is None or brier < best[0]:
            best = (brier, dict(settings), oof)
    assert best is not None
    return best[1], best[2]


def fit_judge(table: OutcomeTable, E, groups, n_groups: int, which: list[str]):
    """(scorer, out-of-fold scores) for the answers of ``which`` models; (None, None) if none.
    Settings by inner CV (``scorer.select``); the arm simulation uses the out-of-fold scores,
    the live judge the scorer refitted on every training row."""
    if not which:
        return None, None
    # Honest judge scores on the training rows: each from a scorer that did not see the row.
    settings, scores = select(E, groups, n_groups, table.responses, table.quality, table.models, which)
    judge = AnswerScorer(table.models, **settings).fit(E, groups, n_groups, table.responses, table.quality, which)
    return judge, scores
