"""A learned judge: the probability that a model's answer to a prompt is right.

``AnswerScorer`` fits, per model, an L2-regularised logistic regression on
``[prompt embedding, answer features, task one-hot, 1]`` from the recorded ``response`` and
``quality`` fields of routing-outcomes rows. Answer features: a hashed embedding of the
answer's text plus a few shape signals (length, a bare option letter, a code block, a
function definition, refusal words). ``score(model, prompt_embedding, group, answer)``
returns P(correct); a cascade with judge ``"scorer@T"`` accepts an answer when P >= T.

``out_of_fold`` gives honest scores on the training rows themselves (inner folds), which is
what the arm predictors learn from.
"""

from __future__ import annotations

import re

import numpy as np

from .embed import HashEmbedder
from .predictors import LogisticPredictor

_LETTER = re.compile(r"^\W*\(?[A-Ea-e]\)?\W*$")
_REFUSAL = re.compile(r"\b(i'?m sorry|i cannot|i can't|as an ai|unable to|i do not|i don't)\b", re.I)
ANSWER_DIM = 128


def answer_features(answers: list[str | None], emb: HashEmbedder) -> np.ndarray:
    texts = [a or "" for a in answers]
    H = emb.embed([t[:2000] for t in texts])
    shape = np.array(
        [
            [
                np.log1p(len(t)) / 8.0,
                bool(_LETTER.match(t)),
                "```" in t,
                "def " in t or "function" in t,
                bool(_REFUSAL.search(t[:300])),
                not t.strip(),
            ]
            for t in texts
        ],
        dtype=np.float32,
    )
    return np.hstack([H, shape])


class AnswerScorer:
    def __init__(self, models: list[str], l2: float = 3e-3, steps: int = 200) -> None:
        self.models = models
        self.l2, self.steps = l2, steps
        self.emb = HashEmbedder(ANSWER_DIM)
        self.per_model: dict[str, LogisticPredictor] = {}

    def _X(self, E: np.ndarray, answers: list[str | None]) -> np.ndarray:
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
        out = {}
        for m, p in self.per_model.items():
            for k, v in p.state().items():
                out[f"{self.models.index(m)}_{k}"] = v
        return out

    @classmethod
    def from_state(cls, models: list[str], st: dict) -> AnswerScorer:
        s = cls(models)
        for j, m in enumerate(models):
            sub = {k.split("_", 1)[1]: v for k, v in st.items() if k.split("_", 1)[0] == str(j)}
            if sub:
                s.per_model[m] = LogisticPredictor.from_state(sub)
        return s


def out_of_fold(
    E, groups, n_groups, responses, quality, models: list[str], which: list[str], folds: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """Scores of ``which`` models on every training row, each from a scorer that did not see it."""
    n = len(E)
    fold = np.random.default_rng(seed).permutation(n) % folds
    out = {m: np.zeros(n) for m in which}
    for f in range(folds):
        tr, te = np.nonzero(fold != f)[0], np.nonzero(fold == f)[0]
        sc = AnswerScorer(models).fit(E[tr], groups[tr], n_groups, [responses[i] for i in tr], quality[tr], which)
        for m in which:
            j = models.index(m)
            out[m][te] = sc.score(m, E[te], groups[te], [responses[i][j] for i in te])
    return out
