"""Policy experiments: assignment (sticky, replayable, shares) and the arm statistics
(a known difference found with the right sign; A/A finds nothing in >= 95% of seeds)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from faregate.config import GatewayConfig
from faregate.config.experiments import ExperimentConfig
from faregate.routing.experiment_stats import holm, newcombe, report, t_quantile, t_two_sided_p, two_proportion_p, welch
from faregate.routing.experiments import ExperimentIndex, assign


def _exp(**kw) -> ExperimentConfig:
    base = {"name": "e", "arms": [{"name": "a", "share": 1, "model": "m1"}, {"name": "b", "share": 1, "model": "m2"}]}
    return ExperimentConfig.model_validate({**base, **kw})


def test_sticky_per_key_and_user_and_replayable_per_request():
    by_key = _exp(assign_by="key")
    arms = {assign(by_key, "k1", None, f"r{i}").name for i in range(50)}
    assert len(arms) == 1  # the key decides, not the request
    by_user = _exp(assign_by="user")
    assert len({assign(by_user, f"k{i}", "alice", f"r{i}").name for i in range(50)}) == 1
    assert assign(by_user, "k1", None, "r1") is None  # no user: takes no part
    per_req = _exp(assign_by="request", seed=7)
    first = [assign(per_req, None, None, f"r{i}").name for i in range(200)]
    assert first == [assign(_exp(assign_by="request", seed=7), None, None, f"r{i}").name for i in range(200)]
    assert first != [assign(_exp(assign_by="request", seed=8), None, None, f"r{i}").name for i in range(200)]


def test_shares_respected_within_tolerance():
    exp = _exp(
        assign_by="request", arms=[{"name": "a", "share": 3, "model": "m"}, {"name": "b", "share": 1, "model": "m"}]
    )
    n = 20_000
    a = sum(assign(exp, None, None, f"req-{i}").name == "a" for i in range(n))
    assert abs(a / n - 0.75) < 0.015


def test_stop_and_promote():
    assert assign(_exp(status="stopped"), "k", None, "r") is None
    assert ExperimentIndex.build([_exp(status="stopped")]) is None  # the hot path sees None
    promoted = _exp(status="promoted", promoted_arm="b")
    assert {assign(promoted, f"k{i}", None, "r").name for i in range(50)} == {"b"}
    with pytest.raises(ValidationError, match="promoted_arm"):
        _exp(status="promoted", promoted_arm="zzz")


def test_config_rejects_bad_experiments():
    models = [{"name": "m1", "provider": "openai", "model": "x", "api_key": "k"}]
    with pytest.raises(ValidationError, match="unknown model 'nope'"):
        GatewayConfig.model_validate(
            {
                "models": models,
                "experiments": [
                    {"name": "e", "arms": [{"name": "a", "share": 1, "model": "nope"}, {"name": "b", "share": 1}]}
                ],
            }
        )
    with pytest.raises(ValidationError, match="at least 2"):
        GatewayConfig.model_validate(
            {"models": models, "experiments": [{"name": "e", "arms": [{"name": "a", "share": 1}]}]}
        )
    with pytest.raises(ValidationError, match="set one policy"):
        ExperimentConfig.model_validate(
            {"name": "e", "arms": [{"name": "a", "share": 1, "model": "m", "route": "r"}, {"name": "b", "share": 1}]}
        )


def test_p_values_and_holm():
    assert t_two_sided_p(2.228, 10) == pytest.approx(0.05, abs=0.003)  # t tables
    assert t_two_sided_p(1.96, 1e9) == pytest.approx(0.05, abs=1e-3)
    assert two_proportion_p(10, 100, 30, 100) == pytest.approx(0.00035, abs=0.0001)  # z = 3.5355
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})  # 3x, 2x (then kept monotone)


def test_t_quantile_and_intervals():
    assert t_quantile(10) == pytest.approx(2.228, abs=0.01)
    assert t_quantile(30) == pytest.approx(2.042, abs=0.002)
    d, lo, hi = welch([1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0])
    assert d == 1.0 and lo < 0 < hi
    d, lo, hi = newcombe(10, 100, 30, 100)
    assert d == pytest.approx(0.2) and 0.07 < lo < 0.1 and 0.3 < hi < 0.34  # Newcombe (1998) method 10


def _rows(rng: random.Random, n: int, cost: float, quality: float, err: float) -> list[dict]:
    return [
        {
            "cost_usd": max(0.0, rng.gauss(cost, cost * 0.3)),
            "latency_ms": rng.lognormvariate(6, 0.4),
            "status": 500 if rng.random() < err else 200,
            "constraint_unmet": rng.random() < 0.1,
            "score": (1.0 if rng.random() < quality else 0.0) if rng.random() < 0.3 else None,
        }
        for _ in range(n)
    ]


def test_known_difference_detected_with_the_right_sign():
    rng = random.Random(3)
    rep = report({"A": _rows(rng, 600, 0.010, 0.8, 0.02), "B": _rows(rng, 600, 0.007, 0.8, 0.02)})
    cmp_ = rep["comparisons"][0]
    cost = cmp_["differences"]["cost_per_request_usd"]
    assert cost["significant"] and cost["ci95"][1] < 0
    assert cmp_["verdict"].startswith("arm B vs A: cheaper by 3")  # ~30%
    assert rep["arms"]["A"]["rated_requests"] > 100 and rep["arms"]["A"]["latency_ms"]["p95"] is not None


def test_a_a_finds_no_difference_in_95_percent_of_seeds():
    false_positive = {
        "cost_per_request_usd": 0,
        "quality": 0,
        "latency_ms_mean": 0,
        "error_rate": 0,
        "constraint_unmet_rate": 0,
    }
    seeds, any_flagged = 200, 0
    for seed in range(seeds):
        rng = random.Random(seed)
        diffs = report({"A": _rows(rng, 150, 0.01, 0.7, 0.05), "B": _rows(rng, 150, 0.01, 0.7, 0.05)})["comparisons"][
            0
        ]["differences"]
        for k, v in diffs.items():
            false_positive[k] += bool(v and v["significant"])
        any_flagged += any(v and v["significant"] for v in diffs.values())
    # Significance is Holm-corrected over the metrics: in >= 95% of seeds no metric at all is
    # significant (the verdict says "no difference"), so each metric alone is too.
    assert any_flagged <= 0.05 * seeds, (any_flagged, false_positive)
    for k, n in false_positive.items():
        assert n <= 0.05 * seeds, (k, n)
