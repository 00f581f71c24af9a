"""Circuit breaker state machine, on a fake clock."""

from __future__ import annotations

import pytest

from faregate.config import BreakerConfig
from faregate.endpoints.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(**kw):
    clock = Clock()
    cfg = BreakerConfig(
        **{
            "failure_threshold": 3,
            "cooldown_s": 10,
            "success_threshold": 2,
            "half_open_probes": 1,
            "min_requests": 10,
            "error_rate": 0.5,
            "window_s": 60,
            **kw,
        }
    )
    return CircuitBreaker(cfg, clock=clock), clock


def fail(br, n=1):
    for _ in range(n):
        p = br.acquire()
        assert p is not None
        br.record_failure("boom", p)


def succeed(br, n=1):
    for _ in range(n):
        p = br.acquire()
        assert p is not None
        br.record_success(p)


def test_opens_after_consecutive_failures():
    br, _ = make()
    fail(br, 2)
    assert br.state == CLOSED
    succeed(br)  # a success resets the run
    fail(br, 2)
    assert br.state == CLOSED
    fail(br)
    assert br.state == OPEN
    assert br.acquire() is None and not br.available()


def test_opens_on_error_rate_over_window():
    br, clock = make(failure_threshold=100, min_requests=10, error_rate=0.5)
    for i in range(10):
        (fail if i % 2 else succeed)(br)  # alternating: never 2 failures in a row
        clock.t += 1
    assert br.state == OPEN


def test_error_rate_needs_min_requests_and_forgets_old_calls():
    br, clock = make(failure_threshold=100, min_requests=10, error_rate=0.5, window_s=5)
    for _ in range(6):
        fail(br)
        succeed(br)
        clock.t += 2  # older calls slide out of the 5 s window
    assert br.state == CLOSED
    assert br.error_rate() == pytest.approx(0.5)


def test_half_open_after_cooldown_then_closes_after_m_successes():
    br, clock = make()
    fail(br, 3)
    clock.t += 9.9
    assert br.state == OPEN and br.retry_in() == pytest.approx(0.1)
    clock.t += 0.1
    assert br.state == HALF_OPEN
    p = br.acquire()
    assert p is not None and p.probe
    assert br.acquire() is None  # one probe at a time
    br.record_success(p)
    assert br.state == HALF_OPEN
    succeed(br)
    assert br.state == CLOSED
    assert br.consecutive_failures == 0


def test_failed_probe_reopens_with_doubled_cooldown():
    br, clock = make(max_cooldown_s=25)
    fail(br, 3)
    clock.t += 10
    fail(br)  # the probe fails
    assert br.state == OPEN and br.retry_in() == pytest.approx(20)
    clock.t += 20
    fail(br)
    assert br.retry_in() == pytest.approx(25)  # capped
    clock.t += 25
    succeed(br, 2)
    assert br.state == CLOSED
    fail(br, 3)
    assert br.retry_in() == pytest.approx(10)  # reset once closed


def test_neutral_outcome_frees_the_probe_slot_only():
    br, clock = make()
    fail(br, 3)
    clock.t += 10
    p = br.acquire()
    br.record_neutral(p)
    assert br.state == HALF_OPEN
    assert br.acquire() is not None


def test_late_results_from_an_earlier_state_do_not_move_the_circuit():
    br, clock = make()
    early = [br.acquire() for _ in range(5)]  # five calls admitted while closed
    for p in early[:3]:
        br.record_failure("x", p)
    assert br.state == OPEN
    br.record_failure("late", early[3])  # already open: no double counting, no new cooldown
    br.record_success(early[4])
    assert br.state == OPEN and br.retry_in() == pytest.approx(10)
    clock.t += 10
    probe = br.acquire()
    assert probe.probe
    br.record_success(early[4])  # a non-probe success does not count toward closing
    assert br.state == HALF_OPEN
    br.record_success(probe)
    succeed(br)
    assert br.state == CLOSED


def test_force_half_open_from_an_active_probe():
    br, _ = make()
    fail(br, 3)
    br.force_half_open()
    assert br.state == HALF_OPEN and br.available()


def test_snapshot_is_plain_data():
    br, _ = make()
    fail(br, 3)
    snap = br.snapshot()
    assert snap["state"] == OPEN and snap["times_opened"] == 1 and snap["open_for_s"] == 10
    assert snap["last_failure"] == "boom"
