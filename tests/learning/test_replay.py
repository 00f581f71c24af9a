"""Offline replay on the shared RouterBench data, feedback revealed only for the chosen model."""

import re
from pathlib import Path

import numpy as np
import orjson
import pytest

from faregate.learning.replay import replay, shuffled

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "routing" / "routerbench-0shot-train.jsonl"
COST_WEIGHT = 100.0  # utility = quality - 100 * cost_usd: GPT-4's price costs it 0.5 utility


def infer(text: str):
    if "Print only a single choice" in text:
        return "multiple_choice"
    if re.search(r"\bdef\b|python|function", text, re.I):
        return "code"
    return None


@pytest.fixture(scope="module")
def rows():
    if not DATA.exists():
        pytest.skip("shared routing data not beside the checkout")
    return [orjson.loads(line) for line in DATA.open("rb")]


def test_utility_rises_and_ends_above_best_single_model(rows):
    quarters = []
    best = None
    for seed in (0, 1, 2):
        res = replay(shuffled(rows, seed), cost_weight=COST_WEIGHT, infer_task=infer, seed=seed)
        quarters.append(res.window_means(4))
        best = res.best_single
    q = np.mean(quarters, axis=0)
    # Starts from nothing, learns: the last half beats the first quarter clearly ...
    assert (q[2] + q[3]) / 2 > q[0] + 0.02, q
    # ... and ends above always sending everything to the best single model in hindsight.
    assert (q[2] + q[3]) / 2 > best[1] + 0.01, (q, best)


def test_learner_prefers_cheap_model_only_where_it_is_good():
    # Two tasks: the cheap model is right on "easy" prompts and wrong on "hard" ones.
    rng = np.random.default_rng(0)
    rows = []
    for i in range(600):
        hard = i % 2 == 0
        rows.append(
            {
                "id": str(i),
                "messages": [{"role": "user", "content": "def f(): hard" if hard else "easy question"}],
                "outcomes": {
                    "cheap": {"quality": float(not hard and rng.random() < 0.95), "cost_usd": 0.0001},
                    "strong": {"quality": float(rng.random() < 0.95), "cost_usd": 0.002},
                },
            }
        )
    res = replay(rows, cost_weight=100, infer_task=infer, seed=1)
    late = list(zip(rows[300:], res.chosen[300:]))
    hard_strong = np.mean([c == "strong" for r, c in late if "hard" in r["messages"][0]["content"]])
    easy_cheap = np.mean([c == "cheap" for r, c in late if "easy" in r["messages"][0]["content"]])
    assert hard_strong > 0.85 and easy_cheap > 0.85, (hard_strong, easy_cheap)
