"""Predictors of per-arm outcomes from request embeddings and task.

Extension point: a predictor has ``fit(X, groups, Y)`` (X: ``(n, d)`` L2-normalised embeddings,
groups: ``(n,)`` integer task ids, -1 for unknown; Y: ``(n, t)`` targets in [0, 1]) and
``predict(X, groups) -> (m, t)``, plus ``state() -> dict of arrays`` / ``from_state`` so a
router saves to one npz file.

- ``KNNPredictor``: similarity-weighted mean of the k nearest training rows' outcomes, shrunk
  towards the mean of the request's task (so a lone odd neighbour cannot swing a decision).
- ``LogisticPredictor``: one L2-regularised logistic regression per target on
  ``[embedding, task one-hot, 1]``, fitted jointly by full-batch gradient descent with Adam.
- ``MFPredictor``: matrix factorisation (a shared low-rank prompt projection, one vector per target).
- ``CostModel``: per model, least squares of log(cost) on ``[1, log tokens, task one-hot]``.

Cross-validation on the shared training files chose kNN (see ``faregate eval``).
"""

from __future__ import annotations

import numpy as np


def group_means(Y: np.ndarray, groups: np.ndarray, n_groups: int, strength: float = 5.0) -> np.ndarray:
    """``(n_groups + 1, t)``: per-group means shrunk to the global mean; last row = global."""
    glob = Y.mean(0)
    out = np.empty((n_groups + 1, Y.shape[1]))
    for g in range(n_groups):
        m = groups == g
        out[g] = (Y[m].sum(0) + strength * glob) / (m.sum() + strength)
    out[n_groups] = glob
    return out


class KNNPredictor:
    """``per_group`` maps a task id to its own ``(k, prior)`` (``k == 0``: the task's mean, no
    neighbours), where inner cross-validation found the prompts of that task carry less (or more)
    signal than the rest; other tasks, and prompts of an unknown task, use ``k`` and ``prior``."""

    kind = "knn"

    def __init__(
        self, k: int = 40, power: float = 4.0, prior: float = 4.0, per_group: dict[int, tuple[int, float]] | None = None
    ) -> None:
        self.k, self.power, self.prior = k, power, prior
        self.per_group = dict(per_group or {})

    def fit(self, X: np.ndarray, groups: np.ndarray, Y: np.ndarray, n_groups: int) -> KNNPredictor:
        self.X = np.ascontiguousarray(X, dtype=np.float32)
        self.Y = np.asarray(Y, dtype=np.float32)
        self.groups = groups.astype(np.int32)
        self.n_groups = n_groups
        self.means = group_means(Y, groups, n_groups).astype(np.float32)
        return self

    def predict(self, X: np.ndarray, groups: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        out = np.empty((len(X), self.Y.shape[1]), dtype=np.float64)
        if not hasattr(self, "_members"):
            self._members = {g: np.nonzero(self.groups == g)[0] for g in range(self.n_groups)}
        for g in np.unique(groups):
            q = np.nonzero(groups == g)[0]
            k, prior = self.per_group.get(int(g), (self.k, self.prior))
            rows = self._members.get(int(g))
            if k == 0:
                out[q] = self.means[g if g >= 0 else self.n_groups][None, :]
            elif rows is not None and len(rows) >= k:
                # Enough rows of the request's own task: look only there (fast on big files).
                out[q] = self._predict(X[q], self.X[rows], self.Y[rows], int(g), None, k, prior)
            else:
                # Unknown or rare task: every row, other tasks' rows pushed away.
                out[q] = self._predict(X[q], self.X, self.Y, int(g), self.groups != g, k, prior)
        return out

    def _predict(self, X, Xt, Yt, g: int, other: np.ndarray | None, k: int, prior_w: float) -> np.ndarray:
        sims = X @ Xt.T  # (m, n)
        if other is not None:
            sims = sims - 0.5 * other[None, :]
        k = min(k, sims.shape[1])
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sims, part, axis=1)
        w = np.clip(s, 0.0, None) ** self.power  # (m, k)
        num = np.einsum("mk,mkt->mt", w, Yt[part])
        prior = self.means[g if g >= 0 else self.n_groups][None, :]
        scale = w.max(1, keepdims=True) + 1e-9  # prior weighs like `prior` best neighbours
        return (num + prior_w * scale * prior) / (w.sum(1, keepdims=True) + prior_w * scale)

    def state(self) -> dict:
        per_group = np.array([[g, k, p] for g, (k, p) in sorted(self.per_group.items())], dtype=np.float64)
        return {
            "X": self.X,
            "Y": self.Y,
            "groups": self.groups,
            "means": self.means,
            "params": np.array([self.k, self.power, self.prior, self.n_groups], dtype=np.float64),
            "per_group": per_group.reshape(-1, 3),
        }

    @classmethod
    def from_state(cls, st: dict) -> KNNPredictor:
        k, power, prior, n_groups = st["params"]
        # Files saved before per-task settings have no "per_group": every task uses (k, prior).
        per_group = {int(g): (int(gk), float(gp)) for g, gk, gp in st.get("per_group", np.zeros((0, 3)))}
        p = cls(int(k), float(power), float(prior), per_group)
        p.X, p.Y, p.groups, p.means, p.n_groups = st["X"], st["Y"], st["groups"], st["means"], int(n_groups)
        return p


def _design(X: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    onehot = np.zeros((len(X), n_groups + 1), dtype=np.float32)
    onehot[np.arange(len(X)), np.where(groups >= 0, groups, n_groups)] = 1.0
    return np.hstack([np.asarray(X, dtype=np.float32), onehot, np.ones((len(X), 1), np.float32)])


class LogisticPredictor:
    kind = "logistic"

    def __init__(self, l2: float = 1e-3, steps: int = 300, lr: float = 0.05) -> None:
        self.l2, self.steps, self.lr = l2, steps, lr

    def fit(self, X, groups, Y, n_groups: int) -> LogisticPredictor:
        self.n_groups = n_groups
        A = _design(X, groups, n_groups)
        Y = np.asarray(Y, dtype=np.float32)
        W = np.zeros((A.shape[1], Y.shape[1]), dtype=np.float32)
        p0 = np.clip(Y.mean(0), 1e-3, 1 - 1e-3)
        W[-1] = np.log(p0 / (1 - p0))
        m, v = np.zeros_like(W), np.zeros_like(W)
        b1, b2 = 0.9, 0.999
        for t in range(1, self.steps + 1):
            P = 1.0 / (1.0 + np.exp(-(A @ W)))
            G = A.T @ (P - Y) / len(A) + self.l2 * W
            m = b1 * m + (1 - b1) * G
            v = b2 * v + (1 - b2) * G * G
            W -= self.lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
        self.W = W
        return self

    def predict(self, X, groups) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(_design(X, groups, self.n_groups) @ self.W)))

    def state(self) -> dict:
        return {"W": self.W, "params": np.array([self.l2, self.steps, self.lr, self.n_groups])}

    @classmethod
    def from_state(cls, st: dict) -> LogisticPredictor:
        l2, steps, lr, n_groups = st["params"]
        p = cls(float(l2), int(steps), float(lr))
        p.W, p.n_groups = st["W"], int(n_groups)
        return p


class MFPredictor:
    """Matrix factorisation in RouteLLM's sense: P(correct of target t on prompt x) =
    sigmoid(v_t . (P x) + u_t . onehot(task) + b_t), with a projection P (d x dim) shared by
    every target, so targets (models, plans) share what they learn about prompts."""

    kind = "mf"

    def __init__(self, rank: int = 16, l2: float = 1e-3, steps: int = 400, lr: float = 0.03) -> None:
        self.rank, self.l2, self.steps, self.lr = rank, l2, steps, lr

    def fit(self, X, groups, Y, n_groups: int) -> MFPredictor:
        self.n_groups = n_groups
        X = np.asarray(X, np.float32)
        A = _design(np.zeros((len(X), 0), np.float32), groups, n_groups)  # task one-hot + 1
        Y = np.asarray(Y, np.float32)
        rng = np.random.default_rng(0)
        params = {
            "P": rng.normal(0, 0.1, (X.shape[1], self.rank)).astype(np.float32),
            "V": np.zeros((self.rank, Y.shape[1]), np.float32),
            "U": np.zeros((A.shape[1], Y.shape[1]), np.float32),
        }
        p0 = np.clip(Y.mean(0), 1e-3, 1 - 1e-3)
        params["U"][-1] = np.log(p0 / (1 - p0))
        m = {k: np.zeros_like(v) for k, v in params.items()}
        v = {k: np.zeros_like(v) for k, v in params.items()}
        for t in range(1, self.steps + 1):
            Z = X @ params["P"]
            R = 1.0 / (1.0 + np.exp(-(Z @ params["V"] + A @ params["U"]))) - Y  # (n, t)
            G = {"V": Z.T @ R / len(X), "U": A.T @ R / len(X), "P": X.T @ (R @ params["V"].T) / len(X)}
            for k in params:
                g = G[k] + self.l2 * params[k]
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                params[k] -= self.lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)
        self.P, self.V, self.U = params["P"], params["V"], params["U"]
        return self

    def predict(self, X, groups) -> np.ndarray:
        A = _design(np.zeros((len(X), 0), np.float32), groups, self.n_groups)
        return 1.0 / (1.0 + np.exp(-((np.asarray(X, np.float32) @ self.P) @ self.V + A @ self.U)))

    def state(self) -> dict:
        return {
            "P": self.P,
            "V": self.V,
            "U": self.U,
            "params": np.array([self.rank, self.l2, self.steps, self.lr, self.n_groups]),
        }

    @classmethod
    def from_state(cls, st: dict) -> MFPredictor:
        rank, l2, steps, lr, n_groups = st["params"]
        p = cls(int(rank), float(l2), int(steps), float(lr))
        p.P, p.V, p.U, p.n_groups = st["P"], st["V"], st["U"], int(n_groups)
        return p


def _oof_knn(X, groups, y, n_groups: int, k: int, prior: float, power: float, folds: int = 5) -> np.ndarray:
    """Out-of-fold kNN predictions of column(s) ``y`` (fixed seed): what a row's own value would
    be predicted as by a kNN that did not see it."""
    fold = np.random.default_rng(0).permutation(len(X)) % max(2, min(folds, len(X)))
    out = np.zeros_like(y, dtype=float)
    for f in np.unique(fold):
        te = fold == f
        out[te] = KNNPredictor(k, power, prior).fit(X[~te], groups[~te], y[~te], n_groups).predict(X[te], groups[te])
    return out


class ResidualPredictor:
    """Per-task means as the base, plus per-prompt signal learned as residuals from them.

    - difficulty: the residuals' first principal direction ``v`` across every target (models
      and plans fail together on hard prompts), ``d = (Y - task mean) . v`` per training prompt;
      a new prompt's ``d`` is predicted by a kNN on embeddings (shrunk to its task's mean), and
      each target's slope on it is fitted on out-of-fold predictions (so the slope already
      shrinks a noisy prediction towards the task mean);
    - what difficulty leaves: a kNN on the remaining residuals, shrunk to 0 by ``prior``.

    With ``dprior`` and ``prior`` large this is exactly the per-task rule's predictor."""

    kind = "residual"

    def __init__(self, k=50, prior=10.0, dk=50, dprior=5.0, power=4.0) -> None:
        self.k, self.prior, self.dk, self.dprior, self.power = k, prior, dk, dprior, power

    def fit(self, X, groups, Y, n_groups: int) -> ResidualPredictor:
        X = np.asarray(X, np.float32)
        Y = np.asarray(Y, np.float64)
        self.n_groups = n_groups
        self.means = group_means(Y, groups, n_groups)
        R = Y - self.means[np.where(groups >= 0, groups, n_groups)]
        v = np.linalg.svd(R, full_matrices=False)[2][0] if len(R) > 1 else np.zeros(Y.shape[1])
        v = v if v.sum() >= 0 else -v  # d > 0: easier than the task's average prompt
        d = (R @ v)[:, None]
        d_oof = _oof_knn(X, groups, d, n_groups, self.dk, self.dprior, self.power)
        self.slope = (d_oof[:, 0] @ R) / (float(d_oof[:, 0] @ d_oof[:, 0]) + 1e-9)
        self.diff = KNNPredictor(self.dk, self.power, self.dprior).fit(X, groups, d, n_groups)
        self.resid = KNNPredictor(self.k, self.power, self.prior).fit(X, groups, R - d_oof * self.slope, n_groups)
        return self

    def difficulty(self, X, groups) -> np.ndarray:
        """Predicted per-prompt difficulty feature (higher = easier than its task's average)."""
        return self.diff.predict(X, groups)[:, 0]

    def predict(self, X, groups) -> np.ndarray:
        base = self.means[np.where(groups >= 0, groups, self.n_groups)]
        out = base + self.difficulty(X, groups)[:, None] * self.slope[None, :] + self.resid.predict(X, groups)
        return np.clip(out, 0.0, 1.0)

    def state(self) -> dict:
        st = {
            "means": self.means,
            "slope": self.slope,
            "params": np.array([self.k, self.prior, self.dk, self.dprior, self.power, self.n_groups]),
        }
        st.update({f"d_{k}": v for k, v in self.diff.state().items()})
        st.update({f"r_{k}": v for k, v in self.resid.state().items()})
        return st

    @classmethod
    def from_state(cls, st: dict) -> ResidualPredictor:
        k, prior, dk, dprior, power, n_groups = st["params"]
        p = cls(int(k), float(prior), int(dk), float(dprior), float(power))
        p.means, p.slope, p.n_groups = st["means"], st["slope"], int(n_groups)
        p.diff = KNNPredictor.from_state({k[2:]: v for k, v in st.items() if k.startswith("d_")})
        p.resid = KNNPredictor.from_state({k[2:]: v for k, v in st.items() if k.startswith("r_")})
        return p


PREDICTORS: dict[str, type[KNNPredictor] | type[LogisticPredictor] | type[MFPredictor] | type[ResidualPredictor]] = {
    "knn": KNNPredictor,
    "residual": ResidualPredictor,
    "logistic": LogisticPredictor,
    "mf": MFPredictor,
}


class CostModel:
    """Per-model cost from input length and task: log(cost) ~ [1, log(1 + tokens), task]."""

    def fit(self, tokens: np.ndarray, groups: np.ndarray, cost: np.ndarray, n_groups: int) -> CostModel:
        self.n_groups = n_groups
        self.lo, self.hi = float(np.min(tokens)), float(np.max(tokens))
        A = self._design(tokens, groups)
        y = np.log(np.clip(cost, 1e-12, None))
        self.W = np.linalg.lstsq(A.T @ A + 1e-3 * np.eye(A.shape[1]), A.T @ y, rcond=None)[0]
        return self

    def _design(self, tokens, groups) -> np.ndarray:
        tokens = np.clip(tokens, getattr(self, "lo", 0.0), getattr(self, "hi", np.inf))  # no extrapolation
        onehot = np.zeros((len(tokens), self.n_groups + 1))
        onehot[np.arange(len(tokens)), np.where(groups >= 0, groups, self.n_groups)] = 1.0
        return np.hstack([np.ones((len(tokens), 1)), np.log1p(tokens)[:, None], onehot])

    def predict(self, tokens: np.ndarray, groups: np.ndarray) -> np.ndarray:
        return np.exp(self._design(np.asarray(tokens, float), groups) @ self.W)
