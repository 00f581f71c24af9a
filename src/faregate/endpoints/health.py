"""Deployment health: whether a deployment may take a call now, and what each call taught us.

The executor asks ``acquire`` before every upstream call and reports the outcome with the
permit it got: ``on_success``, ``on_failure`` or ``on_neutral``. This default implementation
keeps the deployment's counters and last error, and drives its circuit breaker when it has one
(``Deployment.breaker``, built from the model's ``breaker:`` config). Subclass it to add other
signals; each method's contract is in its docstring.

``on_failure`` is where a failed attempt's error is captured, so it is where the error is
redacted: its message is replaced, in place, by the snapshot's ``Redactor`` (the configured
upstream keys and auth header values, exact and masked, and every credential pattern) before
anything stores it. Every later sink (``last_error``, the breaker's reason, the attempt, the
client's error, the request log, logs) reads the redacted text.

``events`` (optional, a ``HealthEvents``) hears of each failure that counts against a
deployment at the instant it is recorded, before the request moves on (the observability side
logs and counts it there).
"""

from __future__ import annotations

import time
from typing import Protocol

from ..core.errors import UpstreamError
from ..core.redact import Redactor
from .breaker import Permit
from .deployments import Deployment

# Error kinds that say nothing about the deployment's health: the request was wrong, or too long.
NEUTRAL_KINDS = frozenset({"client", "context_length", "cancelled"})


class HealthEvents(Protocol):
    """Told of health events as they happen (``observability.events.UpstreamEvents``)."""

    def upstream_failure(self, dep: Deployment, err: UpstreamError) -> None:
        """A failed call that counts against ``dep`` (its message already redacted); must not raise."""


class DeploymentHealth:
    """Breaker-aware health bookkeeping for deployments; ``redactor``: the snapshot's secrets."""

    def __init__(self, redactor: Redactor | None = None, events: HealthEvents | None = None) -> None:
        self.redactor = redactor or Redactor()
        self.events = events

    def redact(self, err: UpstreamError) -> UpstreamError:
        """``err`` with its message (and ``args``) redacted in place (idempotent)."""
        return self.redactor.error(err)

    def usable(self, dep: Deployment) -> bool:
        """Whether ``dep`` could take a call now (used to order and filter; takes no slot)."""
        return dep.breaker is None or dep.breaker.available()

    def acquire(self, dep: Deployment) -> Permit | None:
        """Admit one call to ``dep`` (a half-open probe slot when its circuit is half open);
        ``None`` when refused. Every admitted call ends in exactly one ``on_*`` call."""
        if dep.breaker is None:
            return _FREE
        return dep.breaker.acquire()

    def on_success(self, dep: Deployment, permit: Permit | None = None) -> None:
        dep.successes += 1
        dep.cooldown_s = 0.0
        if dep.breaker is not None:
            dep.breaker.record_success(permit)

    def on_failure(self, dep: Deployment, err: UpstreamError, permit: Permit | None = None) -> None:
        """A failed call. Neutral kinds (a 400, context length) only free the permit."""
        self.redact(err)
        if err.kind in NEUTRAL_KINDS:
            self.on_neutral(dep, permit)
            return
        dep.failures += 1
        dep.last_error = err.message
        dep.last_error_kind = err.kind
        dep.last_error_at = time.time()
        if self.events is not None:
            self.events.upstream_failure(dep, err)  # logged before the breaker moves
        if dep.breaker is not None:
            # 429 is rate limiting, handled by the deployment's cooldown, not a sign of ill health.
            if err.kind == "credential" and err.provider_status == 429:
                dep.breaker.record_neutral(permit)
            else:
                dep.breaker.record_failure(f"{err.kind}: {err.message}"[:300], permit)

    def on_neutral(self, dep: Deployment, permit: Permit | None = None) -> None:
        """A call that says nothing about health (a client error, a client that went away)."""
        if dep.breaker is not None:
            dep.breaker.record_neutral(permit)


_FREE = Permit(False, 0)
