"""The hedge race of the executor: a second call when the first is late with its first byte.

``HedgeRace`` is the part of ``Executor`` that decides whether the request's first call gets a
hedge timer (``hedging`` has the delay), starts the second call when the timer fires, and
settles the race: the first call to produce content wins, the other is cancelled (billed for
the usage it reported) and logged as ``hedge_lost``. At most one extra call per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import FailoverConfig, ModelConfig
from ..core.errors import UpstreamError
from ..core.types import ChatResponse, Event
from ..endpoints.balancer import Balancer
from ..endpoints.breaker import Permit
from ..endpoints.deployments import Deployment, DeploymentRegistry
from ..endpoints.health import DeploymentHealth
from .attempt_picker import ModelQueue, ModelTries
from .context import RequestContext
from .hedging import TtftHistory, hedge_delay_s, latency_ceiling_s, may_hedge
from .held_stream import HeldStream

AGAIN = object()  # after a failure: try the same model again
NEXT_MODEL = object()  # after a failure: leave this model


class RunLike:
    """What the race reads of the executor's per-request run."""

    models: ModelQueue
    deadline: float
    last: UpstreamError | None


@dataclass(slots=True)
class Leg:
    """One call of a hedge race."""

    dep: Deployment
    permit: Permit
    model: str
    sink: list[Event]
    lost: bool = False  # cancelled because the other call answered first
    task: asyncio.Task[Any] | None = None


@dataclass(slots=True)
class Won:
    """A hedge race's answer, with who gave it."""

    result: Any
    dep: Deployment
    model: str


class HedgeRace:
    """Mixed into ``Executor``: the attributes below are the executor's."""

    models: Mapping[str, ModelConfig]
    registry: DeploymentRegistry
    balancer: Balancer
    health: DeploymentHealth
    ttft: TtftHistory
    failover: Callable[[RequestContext, ModelConfig], FailoverConfig]
    _leg: Callable[..., Awaitable[Any]]
    _after_failure: Callable[..., Awaitable[object]]

    def _hedge_delay(
        self, ctx: RequestContext, run: Any, mcfg: ModelConfig, model: ModelTries, dep: Deployment
    ) -> float | None:
        """The hedge delay of this call, or ``None`` when the hedge timer could not fire."""
        fo = self.failover(ctx, mcfg)
        if not may_hedge(ctx, fo) or ctx.attempts:
            return None
        # Candidates first: a model with one deployment and no next candidate (the common case)
        # never hedges, so it skips the p95 (a sort of the deployment's recent samples).
        if not self._hedge_candidates(run, mcfg, model, dep):
            return None
        p95 = self.ttft.p95(dep.id, ctx.request.stream, fo.hedge_min_samples)
        delay = hedge_delay_s(fo, p95, latency_ceiling_s(ctx))
        if p95 is None and not ctx.request.stream and ctx.request.max_tokens:
            # A whole answer arrives only once generated: allow for the longest one asked for.
            delay += ctx.request.max_tokens / dep.tokens_per_s
        limit = run.deadline - time.monotonic()
        if ctx.request.stream:
            limit = min(limit, dep.timeouts.ttfb)
        if delay >= limit:
            return None
        return delay

    def _hedge_candidates(self, run: Any, mcfg: ModelConfig, model: ModelTries, dep: Deployment) -> list[str]:
        """The models a hedge could call: this one (another deployment), then the next candidate."""
        names = []
        if any(d is not dep and self.health.usable(d) and not d.cooling() for d in model.deps):
            names.append(mcfg.name)
        nxt = run.models.peek()
        if nxt is not None and nxt in self.models and self.registry.deployments(nxt):
            names.append(nxt)
        return names

    def _hedge_leg(self, run: Any, mcfg: ModelConfig, model: ModelTries, first: Deployment) -> Leg | None:
        for name in self._hedge_candidates(run, mcfg, model, first):
            cfg = self.models[name]
            deps = model.deps if name == mcfg.name else self.registry.deployments(name)
            for d in self.balancer.order(name, cfg.strategy, deps, self.health.usable):
                if d is first or d.id in model.failed:
                    continue
                permit = self.health.acquire(d)
                if permit is not None:
                    if name == mcfg.name:
                        model.tries += 1
                    return Leg(d, permit, name, [])
        return None

    async def _hedged(
        self,
        ctx: RequestContext,
        once: Any,
        run: Any,
        mcfg: ModelConfig,
        model: ModelTries,
        first: Leg,
        delay: float,
    ) -> Any:
        """The first call, and after ``delay`` without content a second one; the first to answer wins."""
        first.task = asyncio.ensure_future(self._leg(ctx, once, run, first))
        legs = [first]
        try:
            await asyncio.wait([first.task], timeout=delay)
            second = None if first.task.done() else self._hedge_leg(run, mcfg, model, first.dep)
            if second is not None:
                ctx.hedged = True
                second.task = asyncio.ensure_future(self._leg(ctx, once, run, second))
                legs.append(second)
            return await self._race(ctx, run, mcfg, model, legs)
        except asyncio.CancelledError:
            for leg in legs:
                if leg.task is not None:
                    leg.task.cancel()
            await asyncio.gather(*(leg.task for leg in legs if leg.task is not None), return_exceptions=True)
            raise

    async def _race(self, ctx: RequestContext, run: Any, mcfg: ModelConfig, model: ModelTries, legs: list[Leg]) -> Any:
        pending = {leg.task: leg for leg in legs if leg.task is not None}
        err: UpstreamError | None = None
        while pending:
            done, _ = await asyncio.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                leg = pending.pop(task)
                exc = task.exception()
                if exc is None:
                    await self._drop_losers(ctx, pending.values())
                    if len(legs) > 1:
                        ctx.hedge_winner = "first" if leg is legs[0] else "hedge"
                    return Won(self._with_all_usage(ctx, task.result()), leg.dep, leg.model)
                if not isinstance(exc, UpstreamError):
                    await self._drop_losers(ctx, pending.values())
                    raise exc
                err = exc
                run.last = err
                if leg.model == mcfg.name:
                    model.failed.add(leg.dep.id)
        assert err is not None
        if len(legs) > 1:
            return AGAIN  # both calls failed: the loop goes on with what is left
        return await self._after_failure(ctx, err, run, mcfg, model, legs[0].dep)

    async def _drop_losers(self, ctx: RequestContext, losers: Any) -> None:
        """Cancel the calls still running (billed for what they reported); close a stream that opened too."""
        losers = list(losers)
        for leg in losers:
            leg.lost = True
            if leg.task is not None:
                leg.task.cancel()
        for leg in losers:
            if leg.task is None:
                continue
            try:
                result = await leg.task
            except (asyncio.CancelledError, UpstreamError):
                continue
            if isinstance(result, HeldStream):
                result.lost = True
                await result.aclose()
            else:
                for a in reversed(ctx.attempts):  # answered too, but late: billed, not used
                    if a.deployment == leg.dep.id and a.status == "ok":
                        a.status = "hedge_lost"
                        break

    @staticmethod
    def _with_all_usage(ctx: RequestContext, result: Any) -> Any:
        if isinstance(result, ChatResponse) and ctx.usage.total_tokens > result.usage.total_tokens:
            result.usage = ctx.usage
        return result
