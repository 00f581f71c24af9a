"""Offline replay of the learning loop on routing-outcomes data, with bandit feedback:
each prompt's outcome is revealed only for the model the learner chose.

Utility of one decision = quality - cost_weight * cost_usd. The learner picks, per prompt,
the model with the best sampled utility; it starts from a flat prior (no data at all).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .bandit import ResidualThompson
from .features import DIM, bandit_features


@dataclass
class ReplayResult:
    utilities: list[float]  # per decision, in order
    chosen: list[str]
    single_model_utility: dict[str, float]  # each fixed model's mean utility on the same rows
    explored: int = 0
    windows: list[float] = field(default_factory=list)

    @property
    def best_single(self) -> tuple[str, float]:
        return max(self.single_model_utility.items(), key=lambda kv: kv[1])

    def window_means(self, parts: int = 4) -> list[float]:
        u = np.asarray(self.utilities)
        return [float(c.mean()) for c in np.array_split(u, parts)]


def replay(
    rows: Iterable[dict],
    *,
    cost_weight: float,
    infer_task: Callable[[str], str | None],
    prior_quality: float = 0.5,
    explore_rate: float = 1.0,
    seed: int = 0,
    noise: float = 0.2,
    prior_strength: float = 1.0,
) -> ReplayResult:
    rows = list(rows)
    models = sorted(rows[0]["outcomes"])
    # Prices are known in advance (config), so the expected cost per call is too.
    mean_cost = {m: float(np.mean([r["outcomes"][m]["cost_usd"] for r in rows])) for m in models}
    learner = ResidualThompson(DIM, prior_strength=prior_strength, noise=noise)
    rng = np.random.default_rng(seed)
    utilities: list[float] = []
    chosen: list[str] = []
    explored = 0
    for r in rows:
        text = "\n".join(m["content"] for m in r["messages"] if isinstance(m.get("content"), str))
        x = bandit_features(text, infer_task(text))
        use_sample = rng.random() < explore_rate
        best: str | None = None
        greedy: str | None = None
        best_u = greedy_u = -1e9
        for m in models:
            penalty = cost_weight * mean_cost[m]
            mean_q = prior_quality + learner.mean(m, x)
            if mean_q - penalty > greedy_u:
                greedy, greedy_u = m, mean_q - penalty
            if use_sample:
                q = prior_quality + learner.sample(m, x, rng)
                if q - penalty > best_u:
                    best, best_u = m, q - penalty
        pick = best if use_sample else greedy
        if pick is None:
            raise ValueError(f"no model's utility is above {greedy_u:g} for row {r.get('id')!r}")
        explored += pick != greedy
        out = r["outcomes"][pick]
        learner.update(pick, x, out["quality"] - prior_quality)
        utilities.append(out["quality"] - cost_weight * out["cost_usd"])
        chosen.append(pick)
    single = {
        m: float(np.mean([r["outcomes"][m]["quality"] - cost_weight * r["outcomes"][m]["cost_usd"] for r in rows]))
        for m in models
    }
    return ReplayResult(utilities, chosen, single, explored)


def shuffled(rows: list[dict], seed: int) -> list[dict]:
    """A reproducible order independent of the file's (which groups rows by task)."""
    return sorted(rows, key=lambda r: zlib.crc32(f"{seed}:{r['id']}".encode()))
