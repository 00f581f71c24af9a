"""Upstream events: each upstream failure and breaker transition, logged and counted as it happens.

The deployment health (``endpoints.health.DeploymentHealth``) calls ``upstream_failure`` when
it records a failed call, and each deployment's breaker calls its ``listener`` (set by
``attach``) at the instant of a transition; both log a line on ``faregate.upstream`` and bump
a counter before the request moves on, so nothing polls. ``readings`` gives every deployment's
breaker state for ``faregate_breaker_state`` (at scrape time) and the ``breaker_open`` rule.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from ..core.redact import redact
from .metrics import BreakerReading

if TYPE_CHECKING:
    from ..core.errors import UpstreamError
    from ..endpoints.deployments import Deployment
    from .metrics import GatewayMetrics

log = logging.getLogger("faregate.upstream")


def breaker_readings(deployments: Iterable[Deployment]) -> list[BreakerReading]:
    out = []
    for d in deployments:
        br = d.breaker
        state = str(br.state) if br is not None else "closed"
        out.append(
            BreakerReading(
                d.id, d.target.model_name, d.target.provider, state, d.failures, d.last_error_kind, d.last_error
            )
        )
    return out


class UpstreamEvents:
    """One per gateway (long-lived); ``attach`` points it at each new config snapshot."""

    def __init__(self, metrics: GatewayMetrics | None = None) -> None:
        self.metrics = metrics
        self.secrets: frozenset[str] = frozenset()
        self._deployments: tuple[Deployment, ...] = ()

    def attach(self, deployments: Iterable[Deployment], secrets: frozenset[str] = frozenset()) -> None:
        """Listen to the breakers of a snapshot's deployments (a kept deployment is re-pointed)."""
        self._deployments = tuple(deployments)
        self.secrets = secrets
        for d in self._deployments:
            if d.breaker is not None:
                d.breaker.listener = partial(self.breaker_transition, d)

    def readings(self) -> list[BreakerReading]:
        return breaker_readings(self._deployments)

    def upstream_failure(self, dep: Deployment, err: UpstreamError) -> None:
        try:
            log.warning(
                "upstream failure: deployment %s (%s, model %s): %s",
                dep.id,
                err.kind,
                dep.target.model_name,
                redact((err.message or "")[:300], self.secrets),
            )
            if self.metrics is not None:
                self.metrics.upstream_failures.inc((dep.id, dep.target.provider, err.kind))
        except Exception:  # an event must never fail the call that raised it
            log.exception("logging an upstream failure failed")

    def breaker_transition(self, dep: Deployment, before: str, after: str) -> None:
        try:
            level = logging.WARNING if after == "open" else logging.INFO
            log.log(level, "breaker %s -> %s: deployment %s (model %s)", before, after, dep.id, dep.target.model_name)
            if self.metrics is not None:
                self.metrics.breaker_transitions.inc((dep.id, before, after))
        except Exception:
            log.exception("logging a breaker transition failed")
