"""A circuit breaker per deployment: CLOSED, OPEN, HALF_OPEN.

- CLOSED: calls go through. Each outcome is counted; the circuit opens after
  ``failure_threshold`` consecutive failures, or when the calls of the last ``window_s``
  seconds (at least ``min_requests`` of them) failed at ``error_rate`` or more.
- OPEN: no calls for ``cooldown_s`` (doubled each time a half-open probe fails, up to
  ``max_cooldown_s``, 10 s by default; reset when the circuit closes). Then HALF_OPEN, lazily,
  on the next look, so the trials are real requests that arrive after the cooldown.
- HALF_OPEN: at most ``half_open_probes`` calls at a time go through as probes. A failed
  probe re-opens the circuit; ``success_threshold`` successful probes close it.

The window keeps counting while the circuit is open (probe outcomes), and a window with no
calls in it reports no error rate (``None``), never a reassuring 0.0 beside a run of failures.

Only failures that say something about the deployment count: 5xx, overload, timeouts,
connection errors, bad credentials. A 400 (the request was wrong), a context-length refusal
and a client that went away are *neutral*: they free a probe slot and change nothing else.

Every call holds a ``Permit`` from ``acquire`` and hands it back with its outcome, so a
late answer from a call admitted in an earlier state cannot move the circuit.

``listener`` (optional) is called with ``(before, after)`` at the instant of each transition,
from whatever moved the circuit (an outcome, the lazy OPEN -> HALF_OPEN, the prober): the
observability side logs and counts transitions through it, without polling.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ..config import BreakerConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class Permit:
    """Leave to make one call; ``probe`` when it was admitted as a half-open probe."""

    probe: bool
    generation: int


class CircuitBreaker:
    """One deployment's circuit. Not thread-safe; one event loop owns it."""

    __slots__ = (
        "cfg",
        "_clock",
        "_state",
        "_generation",
        "consecutive_failures",
        "_window",
        "_window_failures",
        "opened_at",
        "open_until",
        "_cooldown",
        "_probes",
        "_probe_successes",
        "opened_count",
        "last_transition",
        "last_reason",
        "listener",
    )

    def __init__(self, cfg: BreakerConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg or BreakerConfig()
        self._clock = clock
        self._state = CLOSED
        self._generation = 0
        self.consecutive_failures = 0
        self._window: deque[tuple[float, bool]] = deque()
        self._window_failures = 0
        self.opened_at = 0.0
        self.open_until = 0.0
        self._cooldown = min(self.cfg.cooldown_s, self.cfg.max_cooldown_s)
        self._probes = 0
        self._probe_successes = 0
        self.opened_count = 0
        self.last_transition = clock()
        self.last_reason: str | None = None
        self.listener: Callable[[str, str], None] | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """The current state; an OPEN circuit whose cooldown has passed becomes HALF_OPEN here."""
        if self._state == OPEN and self._clock() >= self.open_until:
            self._to(HALF_OPEN)
        return self._state

    def available(self) -> bool:
        """Whether ``acquire`` would admit a call now (no side effect but the lazy OPEN -> HALF_OPEN)."""
        state = self.state
        if state == CLOSED:
            return True
        return state == HALF_OPEN and self._probes < self.cfg.half_open_probes

    def retry_in(self) -> float:
        """Seconds until an OPEN circuit lets a probe through (0 when it would now)."""
        return max(0.0, self.open_until - self._clock()) if self._state == OPEN else 0.0

    def acquire(self) -> Permit | None:
        """Admit one call, or ``None`` when the circuit refuses it."""
        state = self.state
        if state == CLOSED:
            return Permit(False, self._generation)
        if state == HALF_OPEN and self._probes < self.cfg.half_open_probes:
            self._probes += 1
            return Permit(True, self._generation)
        return None

    # -- outcomes --------------------------------------------------------------------------

    def record_success(self, permit: Permit | None = None) -> None:
        if permit is not None and permit.probe:
            self._probe_done(permit)
            if permit.generation == self._generation and self._state == HALF_OPEN:
                self._observe(False)
                self._probe_successes += 1
                if self._probe_successes >= self.cfg.success_threshold:
                    self._to(CLOSED)
            return
        if self._state == CLOSED:
            self.consecutive_failures = 0
            self._observe(False)

    def record_failure(self, reason: str | None = None, permit: Permit | None = None) -> None:
        self.last_reason = reason
        if permit is not None and permit.probe:
            self._probe_done(permit)
            if permit.generation == self._generation and self._state == HALF_OPEN:
                self.consecutive_failures += 1
                self._observe(True)
                self._cooldown = min(self.cfg.max_cooldown_s, self._cooldown * 2)
                self._open()
            return
        if self._state != CLOSED:
            return  # a call admitted before the circuit opened: it is open already
        self.consecutive_failures += 1
        self._observe(True)
        if self.consecutive_failures >= self.cfg.failure_threshold or self._rate_tripped():
            self._open()

    def record_neutral(self, permit: Permit | None = None) -> None:
        """The call says nothing about the deployment's health (a 400, a client that left)."""
        if permit is not None and permit.probe:
            self._probe_done(permit)

    def force_half_open(self) -> None:
        """An active health probe succeeded while OPEN: let real traffic probe it now."""
        if self._state == OPEN:
            self._to(HALF_OPEN)

    # -- internals -------------------------------------------------------------------------

    def _probe_done(self, permit: Permit) -> None:
        if permit.generation == self._generation and self._probes > 0:
            self._probes -= 1

    def _observe(self, failed: bool) -> None:
        now = self._clock()
        self._window.append((now, failed))
        if failed:
            self._window_failures += 1
        self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.cfg.window_s
        w = self._window
        while w and w[0][0] < horizon:
            if w.popleft()[1]:
                self._window_failures -= 1

    def _rate_tripped(self) -> bool:
        n = len(self._window)
        return n >= self.cfg.min_requests and self._window_failures >= self.cfg.error_rate * n

    def error_rate(self) -> float | None:
        """The share of failed calls in the window; ``None`` when it holds no call."""
        self._prune(self._clock())
        n = len(self._window)
        return self._window_failures / n if n else None

    def _open(self) -> None:
        now = self._clock()
        self.opened_at = now
        self.open_until = now + self._cooldown
        self.opened_count += 1
        self._to(OPEN)

    def _to(self, state: str) -> None:
        before = self._state
        self._state = state
        self._generation += 1
        self._probes = 0
        self._probe_successes = 0
        self.last_transition = self._clock()
        if state == CLOSED:
            self._cooldown = min(self.cfg.cooldown_s, self.cfg.max_cooldown_s)
            self.consecutive_failures = 0
            self._window.clear()
            self._window_failures = 0
        if self.listener is not None and before != state:
            self.listener(before, state)

    def snapshot(self) -> dict:
        state = self.state
        rate = self.error_rate()
        return {
            "state": state,
            "consecutive_failures": self.consecutive_failures,
            "window_calls": len(self._window),
            "window_error_rate": None if rate is None else round(rate, 4),
            "open_for_s": round(self.retry_in(), 3) if state == OPEN else None,
            "half_open_probes_in_flight": self._probes if state == HALF_OPEN else 0,
            "half_open_successes": self._probe_successes if state == HALF_OPEN else 0,
            "times_opened": self.opened_count,
            "last_failure": self.last_reason,
            "in_state_for_s": round(self._clock() - self.last_transition, 3),
        }
