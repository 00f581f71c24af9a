"""What to do after a failed upstream attempt, and how long to wait before the next one.

The decision is made on the error's ``kind`` (see ``core.errors.UpstreamError``):

====================  =====================================================================
kind                  action
====================  =====================================================================
``client``            ``RAISE``: the request itself is wrong; never retried
``context_length``    ``CONTEXT_FALLBACK``: the model's ``context_fallback``, then the rest
``credential``        ``COOL_DOWN``: cool the deployment down and move on at once
anything else         ``NEXT_MODEL`` when the model's ``max_attempts`` are used up;
(transient, timeout)  ``OTHER_DEPLOYMENT`` while one of the model's deployments has not
                      failed yet; ``NEXT_MODEL`` when a fallback is left (unless the model
                      retries before its fallbacks and gave no Retry-After); else ``BACKOFF``
====================  =====================================================================

Before the table, two short waits on the same deployment (``short_wait_s``, each at most once
per model in a request, each only when it fits the deadline): a ``Retry-After`` no longer than
the model's ``failover.retry_after_wait_max_s`` is waited out (longer ones cool the deployment
down and fall back at once, as the table says); and a connection reset or a 500/502/503/504
gets one quick retry after a jitter of at most ``failover.quick_retry_max_s``.

For the last row, a provider's ``Retry-After`` also pauses the deployment that long
(``pause_s``). The policy holds no request state and does no I/O: the numbers come from
``RetryConfig`` and randomness from the RNG it is given, so it can be tested on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from enum import Enum

from ..config import FailoverConfig, RetryConfig
from ..core.errors import UpstreamError
from ..endpoints.transport import QUICK_RETRY_ATTR

__all__ = ["Action", "RetryPolicy", "BACKOFF_START_S", "BACKOFF_CAP_S", "final_error"]

_DEFAULTS = RetryConfig()
# Statuses a second try a moment later often gets past (529, overload, is not one: load shedding).
QUICK_RETRY_STATUSES = frozenset({500, 502, 503, 504})
BACKOFF_START_S = _DEFAULTS.backoff_start_s
BACKOFF_CAP_S = _DEFAULTS.backoff_cap_s


class Action(Enum):
    """What the attempt loop does next."""

    RAISE = "raise"  # give the error to the client now
    CONTEXT_FALLBACK = "context_fallback"  # queue the model's context fallback, leave this model
    COOL_DOWN = "cool_down"  # cool the deployment down, then try this model again at once
    OTHER_DEPLOYMENT = "other_deployment"  # another deployment of this model, at once
    NEXT_MODEL = "next_model"  # leave this model for the next candidate
    BACKOFF = "backoff"  # wait (``backoff``), then call a failed deployment again


class RetryPolicy:
    """The decision table of the module docstring, with full-jitter backoff and cooldown lengths."""

    def __init__(self, config: RetryConfig | None = None, rng: random.Random | None = None) -> None:
        self.config = config or RetryConfig()
        self._rng = rng or random.Random()

    def decide(
        self,
        err: UpstreamError,
        *,
        tries: int,
        max_attempts: int,
        fresh_left: Callable[[], bool],
        fallback_left: bool,
        retry_before_fallback: bool,
    ) -> Action:
        """The action after ``err`` on the model's ``tries``-th call.

        ``fresh_left`` (asked only when it matters): whether a deployment of the model that has
        not failed in this request could take a call now; ``fallback_left``: whether another
        candidate model comes after this one.
        """
        if err.kind == "client":
            return Action.RAISE
        if err.kind == "context_length":
            return Action.CONTEXT_FALLBACK
        if err.kind == "credential":
            return Action.COOL_DOWN
        if tries >= max_attempts:
            return Action.NEXT_MODEL
        if fresh_left():
            return Action.OTHER_DEPLOYMENT
        if fallback_left and (err.retry_after_s is not None or not retry_before_fallback):
            return Action.NEXT_MODEL  # a fallback now beats waiting for this model to recover
        return Action.BACKOFF

    def short_wait_s(
        self, err: UpstreamError, failover: FailoverConfig, *, waited: bool, quick_used: bool
    ) -> float | None:
        """How long to wait before calling the same deployment again, or ``None`` (move on).

        A short ``Retry-After`` (a 429, or a 5xx that gave one) is waited out once; a reset or a
        transient 5xx without one gets one quick jittered retry."""
        if err.kind not in ("credential", "transient", "timeout"):
            return None
        ra = err.retry_after_s
        if ra is not None:
            retryable = err.provider_status == 429 or err.kind != "credential"
            if not waited and retryable and ra <= failover.retry_after_wait_max_s:
                return ra
            return None
        if quick_used or not failover.quick_retry:
            return None
        if err.provider_status in QUICK_RETRY_STATUSES or getattr(err, QUICK_RETRY_ATTR, False):
            return self._rng.uniform(0, failover.quick_retry_max_s)
        return None

    @staticmethod
    def pause_s(err: UpstreamError) -> float | None:
        """How long the failed deployment takes no call (the provider's Retry-After), if at all."""
        return err.retry_after_s

    def backoff(self, n: int, retry_after_s: float | None) -> float:
        """The wait before the ``n``-th retry (from 0): uniform in 0..bound, the bound doubling from
        ``backoff_start_s`` to ``backoff_cap_s``; never shorter than ``retry_after_s``."""
        cfg = self.config
        cap = min(cfg.backoff_cap_s, cfg.backoff_start_s * (2**n))
        delay = self._rng.uniform(0, cap)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def cooldown_s(self, previous_s: float, retry_after_s: float | None) -> float:
        """A credential error's cooldown: the provider's Retry-After when given, else the last
        cooldown doubled (``cooldown_start_s`` the first time), at most ``cooldown_cap_s``."""
        if retry_after_s is not None:
            return retry_after_s
        cfg = self.config
        return min(cfg.cooldown_cap_s, previous_s * 2 if previous_s else cfg.cooldown_start_s)


def final_error(err: UpstreamError) -> UpstreamError:
    """The error as the client gets it: with ``Retry-After`` when the provider gave one."""
    if err.retry_after_s is not None and err.status in (429, 503):
        err.headers.setdefault("retry-after", str(max(1, int(err.retry_after_s + 0.999))))
    return err
