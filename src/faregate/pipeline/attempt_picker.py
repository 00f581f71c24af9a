"""Which deployment to call next: the candidate models in order, each over its deployments.

``ModelQueue`` is the request's model sequence (the named model, then its fallbacks; a
context fallback is queued right after the model that overflowed). ``AttemptPicker`` orders a
model's deployments with the balancer, leaves out cooling ones and open circuits, puts the
ones that already failed in this request last, and takes a breaker permit for the one it
picks. ``cool_down`` and ``pause`` are the deployment state a failure leaves behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..core.errors import UpstreamError
from ..endpoints.balancer import Balancer
from ..endpoints.breaker import Permit
from ..endpoints.deployments import Deployment
from ..endpoints.health import DeploymentHealth


class ModelQueue:
    """The models to try, in order; iterating yields each once, including ones queued meanwhile."""

    def __init__(self, candidates: list[str]) -> None:
        self.names = list(candidates)
        self._next = 0

    @property
    def first(self) -> str:
        return self.names[0]

    def __iter__(self) -> Iterator[str]:
        while self._next < len(self.names):
            self._next += 1
            yield self.names[self._next - 1]

    def peek(self) -> str | None:
        """The model after the one being tried, if any."""
        return self.names[self._next] if self._next < len(self.names) else None

    def has_next(self) -> bool:
        """Whether a model comes after the one being tried."""
        return self._next < len(self.names)

    def queue_next(self, name: str) -> None:
        """Try ``name`` right after the current model, unless it is still to come anyway."""
        if name not in self.names[self._next :]:
            self.names.insert(self._next, name)


@dataclass(slots=True)
class ModelTries:
    """One model's attempts within one request."""

    deps: list[Deployment]
    failed: set[str] = field(default_factory=set)
    tries: int = 0
    backoff_n: int = 0
    waited_for: Deployment | None = None  # the deployment whose backoff was just slept out
    again: Deployment | None = None  # the deployment a short wait was for: called again first
    waited: bool = False  # a short Retry-After was waited out on this model already
    quick_used: bool = False  # the quick retry of this model was used already


class AttemptPicker:
    """Picks the next deployment of a model and takes its permit (see the module docstring)."""

    def __init__(self, balancer: Balancer, health: DeploymentHealth) -> None:
        self.balancer = balancer
        self.health = health

    def pick(self, name: str, strategy: str, model: ModelTries) -> tuple[Deployment, Permit] | None:
        """The next deployment to call, with its permit: ones not yet failed in this request
        first, in the balancer's order; ``waited_for`` (whose Retry-After we just slept out)
        even though its cooldown may not have passed by the clock."""
        order = self.balancer.order(name, strategy, model.deps, self.health.usable)
        waited_for, failed = model.waited_for, model.failed
        if waited_for is not None and waited_for not in order and self.health.usable(waited_for):
            order.insert(0, waited_for)
        if failed:
            order = [d for d in order if d.id not in failed] + [d for d in order if d.id in failed]
        again = model.again
        if again is not None and again in order:
            order.remove(again)
            order.insert(0, again)  # a short wait (or quick retry) was for this deployment: it goes first
        for dep in order:
            permit = self.health.acquire(dep)
            if permit is not None:
                return dep, permit
        return None

    def has_fresh(self, model: ModelTries) -> bool:
        """Whether a deployment that has not failed in this request could take a call now."""
        now = time.monotonic()
        return any(d.id not in model.failed and not d.cooling(now) and self.health.usable(d) for d in model.deps)

    @staticmethod
    def unavailable(name: str, deps: list[Deployment]) -> UpstreamError:
        """The error when no deployment of ``name`` can take a call, with the shortest wait."""
        now = time.monotonic()
        waits = [max(d.cooldown_until - now, d.breaker.retry_in() if d.breaker else 0.0) for d in deps]
        waits = [w for w in waits if w > 0]
        return UpstreamError(
            f"every deployment of {name!r} is cooling down or its circuit is open",
            kind="unavailable",
            retry_after_s=min(waits) if waits else None,
        )


def cool_down(dep: Deployment, length_s: float) -> None:
    """No request calls ``dep`` for ``length_s``; the length is kept, to double on a repeat."""
    dep.cooldown_s = length_s
    pause(dep, length_s)


def pause(dep: Deployment, seconds: float) -> None:
    """No request calls ``dep`` again before ``seconds`` from now (a cooldown only ever grows)."""
    dep.cooldown_until = max(dep.cooldown_until, time.monotonic() + seconds)
