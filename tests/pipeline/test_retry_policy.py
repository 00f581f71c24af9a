"""The retry policy on its own: the decision table, full-jitter backoff, cooldown lengths."""

from __future__ import annotations

import random

import pytest

from faregate.config import RetryConfig
from faregate.core.errors import UpstreamError
from faregate.pipeline.retry_policy import BACKOFF_CAP_S, BACKOFF_START_S, Action, RetryPolicy, final_error


def decide(kind: str, *, retry_after: float | None = None, **kw) -> Action:
    args = {"tries": 1, "max_attempts": 3, "fresh_left": lambda: False, "fallback_left": False}
    args |= {"retry_before_fallback": False, **kw}
    return RetryPolicy().decide(UpstreamError("x", kind=kind, retry_after_s=retry_after), **args)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("client", Action.RAISE),
        ("context_length", Action.CONTEXT_FALLBACK),
        ("credential", Action.COOL_DOWN),
        ("transient", Action.BACKOFF),
        ("timeout", Action.BACKOFF),
    ],
)
def test_each_kind_alone(kind, expected):
    assert decide(kind) is expected


@pytest.mark.parametrize("kind", ["client", "context_length", "credential"])
def test_terminal_kinds_ignore_the_attempt_budget_and_fallbacks(kind):
    assert decide(kind, tries=3, fresh_left=lambda: True, fallback_left=True) is decide(kind)


@pytest.mark.parametrize("kind", ["transient", "timeout"])
def test_retryable_kinds(kind):
    assert decide(kind, tries=3) is Action.NEXT_MODEL  # max_attempts used up
    assert decide(kind, fresh_left=lambda: True, fallback_left=True) is Action.OTHER_DEPLOYMENT
    assert decide(kind, fallback_left=True) is Action.NEXT_MODEL
    assert decide(kind, fallback_left=True, retry_before_fallback=True) is Action.BACKOFF
    # A provider's Retry-After makes the fallback better than waiting, whatever the model prefers.
    assert decide(kind, retry_after=1.0, fallback_left=True, retry_before_fallback=True) is Action.NEXT_MODEL
    assert decide(kind, retry_after=1.0) is Action.BACKOFF


def test_fresh_left_is_asked_only_when_it_decides():
    asked = []

    def fresh() -> bool:
        asked.append(1)
        return False

    decide("client", fresh_left=fresh)
    decide("credential", fresh_left=fresh)
    decide("transient", tries=3, fresh_left=fresh)
    assert asked == []
    decide("transient", fresh_left=fresh)
    assert asked == [1]


def test_full_jitter_backoff_bounds_with_a_seeded_rng():
    policy = RetryPolicy(rng=random.Random(7))
    assert (BACKOFF_START_S, BACKOFF_CAP_S) == (0.1, 10.0)
    for n in range(12):
        cap = min(BACKOFF_CAP_S, BACKOFF_START_S * 2**n)
        draws = [policy.backoff(n, None) for _ in range(200)]
        assert all(0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # full jitter: the whole range is used
    assert policy.backoff(0, 2.5) == 2.5  # Retry-After is a floor
    same = [RetryPolicy(rng=random.Random(3)).backoff(4, None) for _ in range(2)]
    assert same[0] == same[1]  # the draw comes from the given RNG only


def test_backoff_numbers_come_from_config():
    policy = RetryPolicy(RetryConfig(backoff_start_s=1.0, backoff_cap_s=3.0), random.Random(1))
    draws = [policy.backoff(n, None) for n in range(6) for _ in range(100)]
    assert max(draws) <= 3.0 and max(draws) > 2.5
    assert all(d <= 1.0 for d in (policy.backoff(0, None) for _ in range(100)))


def test_cooldown_doubles_to_the_cap_and_retry_after_wins():
    policy = RetryPolicy()
    lengths, last = [], 0.0
    for _ in range(11):
        last = policy.cooldown_s(last, None)
        lengths.append(last)
    assert lengths[:4] == [1.0, 2.0, 4.0, 8.0] and lengths[-1] == 300.0
    assert policy.cooldown_s(8.0, 7.0) == 7.0
    custom = RetryPolicy(RetryConfig(cooldown_start_s=0.5, cooldown_cap_s=1.5))
    assert [custom.cooldown_s(p, None) for p in (0.0, 0.5, 1.0, 1.5)] == [0.5, 1.0, 1.5, 1.5]


def test_pause_is_the_providers_retry_after():
    assert RetryPolicy.pause_s(UpstreamError("x", retry_after_s=4.0)) == 4.0
    assert RetryPolicy.pause_s(UpstreamError("x")) is None


def test_final_error_carries_retry_after_for_429_and_503_only():
    limited = final_error(UpstreamError("x", kind="credential", provider_status=429, retry_after_s=2.2))
    assert limited.headers["retry-after"] == "3"
    unavailable = final_error(UpstreamError("x", kind="unavailable", retry_after_s=0.1))
    assert unavailable.headers["retry-after"] == "1"
    assert "retry-after" not in final_error(UpstreamError("x", retry_after_s=2.0)).headers  # a 502
