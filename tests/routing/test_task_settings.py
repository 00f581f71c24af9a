"""Per-task kNN settings: a task may get its own (k, prior) or its mean outcome (inner CV
decides), while prompts of an unknown task always get neighbours, never the global mean."""

from __future__ import annotations

import numpy as np

from faregate.routing.predictors import KNNPredictor
from faregate.routing.tune import TASK_MEAN, select_knn


def _data(n: int = 600, seed: int = 0):
    """Two tasks, two models (strong always right). Task 0: the weak model is right exactly when
    the prompt's first coordinate is positive (signal the neighbours find); task 1: a coin flip."""
    rng = np.random.default_rng(seed)
    E = rng.normal(size=(n, 8))
    E /= np.linalg.norm(E, axis=1, keepdims=True)
    groups = np.arange(n) % 2
    weak = np.where(groups == 0, E[:, 0] > 0, rng.random(n) < 0.5).astype(float)
    Q = np.stack([np.ones(n), weak], 1)  # columns: strong, weak
    C = np.stack([np.full(n, 1.0), np.full(n, 0.1)], 1)
    return E, groups, Q, C


def test_task_mean_setting_predicts_the_tasks_mean_and_unknown_tasks_keep_neighbours():
    E, groups, Q, _ = _data()
    p = KNNPredictor(k=20, prior=2.0, per_group={0: TASK_MEAN, 1: TASK_MEAN}).fit(E, groups, Q, 2)
    got = p.predict(E[:10], groups[:10])
    assert np.allclose(got, p.means[groups[:10]])
    # A prompt of no known task: its neighbours' outcomes (task 0's signal shows), not the global mean.
    probe = np.zeros((2, 8))
    probe[0, 0], probe[1, 0] = 1.0, -1.0
    unknown = p.predict(probe, np.array([-1, -1]))
    assert unknown[0, 1] > unknown[1, 1] + 0.1
    assert not np.allclose(unknown[0], p.means[2])


def test_per_task_settings_survive_save_and_load():
    E, groups, Q, _ = _data()
    p = KNNPredictor(k=20, prior=2.0, per_group={1: TASK_MEAN, 0: (50, 5.0)}).fit(E, groups, Q, 2)
    again = KNNPredictor.from_state(p.state())
    assert again.per_group == {0: (50, 5.0), 1: TASK_MEAN}
    assert np.allclose(again.predict(E[:50], groups[:50]), p.predict(E[:50], groups[:50]))
    # A file from before per-task settings (no "per_group" array) loads with none.
    old = {k: v for k, v in p.state().items() if k != "per_group"}
    assert KNNPredictor.from_state(old).per_group == {}


def test_inner_cv_keeps_neighbours_where_the_prompt_carries_signal():
    E, groups, Q, C = _data()
    args = select_knn(E, groups, Q, Q, C, [0, 1], 2)
    assert args.get("per_group", {}).get(0) != TASK_MEAN
    assert args["k"] > 0  # the overall setting (used for unknown tasks) is always a neighbour search
    # The chosen settings build a predictor that ranks task 0's prompts by their signal.
    p = KNNPredictor(**args).fit(E, groups, Q, 2)
    t0 = groups == 0
    pred = p.predict(E[t0], groups[t0])[:, 1]
    assert pred[E[t0, 0] > 0].mean() > pred[E[t0, 0] <= 0].mean() + 0.3
