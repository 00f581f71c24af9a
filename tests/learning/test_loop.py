import numpy as np
import pytest

from faregate.learning.features import bandit_features
from faregate.learning.loop import LearningLoop
from faregate.learning.signals import RetryDetector, hamming, simhash


def test_no_feedback_keeps_offline_predictions():
    loop = LearningLoop(explore_rate=0.0)
    x = bandit_features("classify this ticket", "classify")
    adjusted, explore = loop.adjust("req_1", x, {"a": 0.7, "b": 0.9})
    assert adjusted == {"a": 0.7, "b": 0.9} and explore is False


def test_feedback_moves_prediction_for_similar_requests_only_once():
    loop = LearningLoop(explore_rate=0.0)
    x = bandit_features("summarize this report", "summarize")
    for i in range(20):
        loop.remember(f"r{i}", "cheap", x, 0.8, "k1")
        assert loop.feedback(f"r{i}", 0.0)
    assert not loop.feedback("r0", 1.0), "a settled decision is not learned from twice"
    assert not loop.feedback("unknown", 1.0)
    adjusted, _ = loop.adjust("req_new", x, {"cheap": 0.8, "other": 0.8})
    assert adjusted["cheap"] < 0.3 and adjusted["other"] == 0.8


def test_explore_rate_bounds_exploration_and_replays():
    loop = LearningLoop(explore_rate=0.1)
    x = bandit_features("hi", "chat")
    flags = [loop.adjust(f"req_{i}", x, {"a": 0.5})[1] for i in range(2000)]
    assert 0.07 < np.mean(flags) < 0.13
    # The same request id draws the same way: decisions can be replayed and explained.
    assert [loop.adjust(f"req_{i}", x, {"a": 0.5}) for i in range(50)] == [
        loop.adjust(f"req_{i}", x, {"a": 0.5}) for i in range(50)
    ]
    assert not any(LearningLoop(explore_rate=0.0).adjust(f"q{i}", x, {"a": 0.5})[1] for i in range(500))


def test_retry_of_near_duplicate_prompt_marks_earlier_answer_unsatisfying():
    t = [0.0]
    det = RetryDetector(window_s=300, min_gap_s=2, clock=lambda: t[0])
    prompt = "Please write a haiku about the sea, with the word 'salt' in the second line."
    assert det.seen("k1", prompt, "r1") is None
    det.answered("k1", "r1")
    t[0] = 60
    assert det.seen("k1", prompt.replace("Please write", "Please, write"), "r2") == "r1"
    assert det.seen("k2", prompt, "r3") is None, "another key's prompt is not a retry"
    t[0] = 1000
    assert det.seen("k1", prompt, "r4") is None, "outside the 5-minute window"
    assert hamming(simhash(prompt), simhash("An entirely different question about tax law.")) > 10


def test_what_is_not_a_retry():
    t = [0.0]
    det = RetryDetector(window_s=300, min_gap_s=2, max_signals=2, clock=lambda: t[0])
    p = "Summarise the attached quarterly report in three bullet points."
    assert det.seen("k", p, "a") is None
    assert det.seen("k", p, "b") is None, "sent again before the first was answered (coalescing): no retry"
    det.answered("k", "a")
    det.answered("k", "b")
    t[0] = 1.0
    assert det.seen("k", p, "c") is None, "within the gap after the answer: a burst, not a retry"
    det.answered("k", "c")
    t[0] = 10.0
    assert det.seen("k", p, "d", conversation=7) is None, "another conversation"
    det.answered("k", "d")
    t[0] = 20.0
    assert det.seen("k", p, "e", conversation=7) == "d"
    assert det.seen("k", p, "f", conversation=7) is None, "e is not answered yet"
    det.answered("k", "f")
    t[0] = 30.0
    assert det.seen("k", p, "g", conversation=7) == "f"
    det.answered("k", "g")
    t[0] = 40.0
    assert det.seen("k", p, "h", conversation=7) is None, "the key's budget of 2 signals per window is spent"


def test_retry_signal_updates_the_earlier_decision_and_says_by_how_much():
    loop = LearningLoop(explore_rate=0.0, retry_min_gap_s=0.0)
    prompt = "translate the following sentence into French: the cat sleeps on the mat"
    x = bandit_features(prompt, "generate")
    assert loop.retry_of("r1", "k1", prompt) is None
    loop.remember("r1", "cheap", x, 0.9, "k1", answered=True)
    before = loop.updates
    earlier = loop.retry_of("r2", "k1", prompt + "!")
    assert earlier == "r1"
    signal = loop.signal_retry(earlier)
    assert signal is not None and signal.model == "cheap" and signal.reason == "retried"
    assert loop.updates == before + 1
    adjusted = loop.adjust("r3", x, {"cheap": 0.9})[0]["cheap"]
    assert adjusted < 0.9 and adjusted - 0.9 == pytest.approx(signal.moved)
    assert signal.header().startswith("retried;model=cheap;weight=0.5;moved=-")


def test_latency_over_the_ceiling_is_a_weaker_negative_signal():
    slow, failed = LearningLoop(explore_rate=0.0), LearningLoop(explore_rate=0.0)
    x = bandit_features("summarize the meeting notes", "summarize")
    for loop, signal in ((slow, "signal_slow"), (failed, "signal_failure")):
        loop.remember("r1", "m", x, 0.9, "k")
        assert getattr(loop, signal)("r1")
    q_slow = slow.adjust("q", x, {"m": 0.9})[0]["m"]
    q_failed = failed.adjust("q", x, {"m": 0.9})[0]["m"]
    assert q_failed < q_slow < 0.9


def test_an_exploring_sample_stays_within_the_shift_bound_of_the_mean():
    loop = LearningLoop(explore_rate=1.0, max_explore_shift=0.1)
    x = bandit_features("hello there", "chat")
    mean = loop.mean_adjusted(x, {"a": 0.6})["a"]
    draws = [loop.adjust(f"req_{i}", x, {"a": 0.6})[0]["a"] for i in range(300)]
    assert all(abs(d - mean) <= 0.1 + 1e-12 for d in draws)
    assert max(draws) - min(draws) > 0.15, "exploration still explores"
    wide = LearningLoop(explore_rate=1.0, max_explore_shift=1.0)
    assert max(abs(wide.adjust(f"req_{i}", x, {"a": 0.6})[0]["a"] - mean) for i in range(300)) > 0.2


def test_repeats_by_hand_move_a_model_a_bounded_step_each():
    """Three retries of one prompt (a key's budget) from a fresh model at 0.945: each signal moves
    it by at most retry_weight * max_signal_move, and prompts that share only the task and bias
    features with it move no further."""
    loop = LearningLoop(explore_rate=0.0, retry_min_gap_s=0.0)
    prompt = "What is the capital of Australia"
    x = bandit_features(prompt, "chat")
    other = bandit_features("Good morning", "chat")
    for i in range(4):
        if i:
            earlier = loop.retry_of(f"r{i}", "k1", prompt)
            assert earlier == f"r{i - 1}"
            signal = loop.signal_retry(earlier)
            assert signal is not None and signal.weight == 0.5
            assert -0.05 - 1e-9 <= signal.moved < -0.04, "a retry moves one bounded step"
        else:
            assert loop.retry_of("r0", "k1", prompt) is None
        loop.remember(f"r{i}", "mini", x, 0.945, "k1", answered=True)
    q = loop.adjust("q1", x, {"mini": 0.945})[0]["mini"]
    q_other = loop.adjust("q2", other, {"mini": 0.945})[0]["mini"]
    assert 0.945 - 0.15 - 1e-9 <= q < 0.945 - 0.12
    assert 0.945 - 0.15 - 1e-9 <= q_other < 0.945


def test_the_bound_is_per_signal_weight_and_spares_observed_outcomes():
    x = bandit_features("summarize the meeting notes", "summarize")
    moved = {}
    for name in ("signal_slow", "signal_retried", "signal_failure", "feedback"):
        loop = LearningLoop(explore_rate=0.0, max_signal_move=0.2)
        loop.remember("r1", "m", x, 0.9, "k")
        assert loop.feedback("r1", 0.0) if name == "feedback" else getattr(loop, name)("r1")
        moved[name] = loop.adjust("q", x, {"m": 0.9})[0]["m"] - 0.9
    assert moved["signal_slow"] == pytest.approx(-0.1)  # weight 0.5: half of the bound
    assert moved["signal_retried"] == pytest.approx(-0.1)
    assert moved["signal_failure"] < -0.5, "a failed call (no answer) is an observed outcome"
    assert moved["feedback"] < -0.5, "an explicit score is not bounded"


def _taught(scores: list[float]) -> LearningLoop:
    loop = LearningLoop(explore_rate=0.0)
    for i, s in enumerate(scores):
        x = bandit_features(f"summarize report number {i} for the board", "summarize")
        loop.remember(f"r{i}", "cheap" if i % 2 else "big", x, 0.7, "k1")
        loop.feedback(f"r{i}", s)
    return loop


def test_snapshot_id_names_the_learned_state():
    fresh = LearningLoop(explore_rate=0.0)
    assert fresh.snapshot_id == LearningLoop(explore_rate=0.0).snapshot_id, "the prior has one id"
    a, b = _taught([0.0, 1.0, 0.5]), _taught([0.0, 1.0, 0.5])
    assert a.snapshot_id == b.snapshot_id != fresh.snapshot_id, "equal learning, equal id"
    assert _taught([0.0, 1.0, 0.4]).snapshot_id != a.snapshot_id, "another score, another id"
    before = a.snapshot_id
    assert a.snapshot_id == before, "reading does not change it"
    a.remember("late", "big", bandit_features("a late question", "chat"), 0.6, "k1")
    assert a.snapshot_id == before, "remembering a decision is not learning"
    assert a.feedback("late", 0.1) and a.snapshot_id != before
    # A posterior restored from its state has the id of that state.
    restored = LearningLoop(explore_rate=0.0)
    restored.model.load_state(a.model.state())
    assert restored.snapshot_id == a.snapshot_id
