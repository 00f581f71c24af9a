import pytest

from faregate.learning.calibrate import calibrate


def test_latency_and_speed_from_logged_outcomes():
    recs = [
        {"answered_model": "a", "ttft_ms": t, "latency_ms": t + 1000, "output_tokens": 50, "status": 200}
        for t in (100, 200, 300, 400, 500)
    ]
    recs.append({"answered_model": "a", "ttft_ms": 9999, "status": 502})  # a failure is not a latency sample
    cal = calibrate(recs)["a"]
    assert cal.requests == 6
    assert cal.ttft_ms_p50 == 300
    assert cal.tokens_per_s == pytest.approx(50.0)


def test_quality_is_shrunk_toward_the_prior():
    recs = [{"answered_model": "a", "task": "classify", "feedback_score": 0.0, "status": 200}] * 5
    recs += [{"answered_model": "a", "task": "chat", "status": 500}]
    cal = calibrate(recs, priors={"a": 0.9}, prior_weight=5)["a"]
    assert cal.quality_by_task["classify"] == (pytest.approx(0.45), 5)  # (0*5 + 0.9*5) / 10
    assert cal.quality_by_task["chat"][0] == pytest.approx(0.75)  # one error: (0 + 4.5) / 6


def test_too_few_samples_leave_priors_alone():
    cal = calibrate([{"answered_model": "a", "ttft_ms": 100, "latency_ms": 200, "output_tokens": 5}])["a"]
    assert cal.ttft_ms_p50 is None and cal.tokens_per_s is None
