"""The terminal step: call the upstream, with retries and failover, and hand back the answer.

Attempt order: the request's candidate models in order (the named model, then its
fallbacks), each over its deployments as the balancer orders them (open circuits and
cooling deployments left out; see ``attempt_picker``). What happens after a failed attempt
is decided by the error's ``kind`` (the table in ``retry_policy``):

- ``transient`` / ``timeout`` (5xx, 529, connection refused or reset, malformed reply, a
  stall): another deployment of the same model that has not failed yet is tried at once;
  when every deployment of the model has failed in this request, the next fallback is tried
  at once (a model with ``retry_before_fallback: true`` retries itself first); with no
  fallback left, a failed deployment is called again after a full-jitter backoff (uniform in
  0..``retry.backoff_start_s``, the bound doubling to ``retry.backoff_cap_s``), never sooner
  than the provider's ``Retry-After`` (which also cools the deployment down for that long).
  At most ``max_attempts`` calls per model, all within the deadline (the first model's
  ``timeouts.total``). Waiting is for when nothing else is left.
- ``credential`` (401/403/429 from the provider): cool that deployment down (for
  ``Retry-After`` when given, else ``retry.cooldown_start_s`` doubling to
  ``retry.cooldown_cap_s``) and move on at once.
- ``context_length``: go straight to the model's ``context_fallback``, then its other fallbacks.
- ``client`` (a 400): the request itself is wrong; raised at once, never retried.

Before that table (``retry_policy.short_wait_s``): a short ``Retry-After`` is waited out on the
same deployment, and a reset or a transient 5xx gets one quick jittered retry. The request's
first call is hedged (``hedging``): when it has sent nothing within the hedge delay, the next
candidate is called in parallel and the first to produce content wins. A stream cut after
content may be resumed elsewhere (``resume``, opt-in ``stream_resume``). The knobs are the
model's ``failover:`` (a route's replaces them).

The executor never finishes the context: the ``Gateway`` does, once the whole answer is out,
so a step (a cascade) may call it more than once for one request.

A stream is held until its first content event (see ``held_stream``): a failure before that
fails over invisibly. Usage and cost count every attempt the provider reported usage for,
failed ones included (see ``charge``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import FailoverConfig, ModelConfig, ProberConfig, RetryConfig, RouteConfig
from ..core.errors import GatewayError, UpstreamError
from ..core.types import Event, UsageEvent
from ..endpoints import transport
from ..endpoints.balancer import Balancer
from ..endpoints.breaker import Permit
from ..endpoints.deployments import Deployment, DeploymentRegistry
from ..endpoints.health import DeploymentHealth
from ..endpoints.http import HttpPool
from ..endpoints.prober import HealthProber
from .attempt_picker import AttemptPicker, ModelQueue, ModelTries, cool_down, pause
from .charge import charge, mark_disconnected, mark_failed
from .context import Attempt, Reply, RequestContext
from .hedge_race import AGAIN as _AGAIN
from .hedge_race import NEXT_MODEL as _NEXT_MODEL
from .hedge_race import HedgeRace, Leg, Won
from .hedging import TtftHistory
from .held_stream import HeldStream, StreamOptions, open_held_stream
from .resume import Resume
from .retry_policy import BACKOFF_CAP_S, BACKOFF_START_S, Action, RetryPolicy, final_error

__all__ = ["Executor", "HeldStream", "DeploymentHealth", "BACKOFF_START_S", "BACKOFF_CAP_S"]

T = TypeVar("T")
# One call to one deployment: ``(ctx, dep, deadline, permit, sink)`` -> the answer (or a held
# stream); ``sink`` collects a stream's held events, so a cancelled opening can still be billed.
Once = Callable[[RequestContext, Deployment, float, Permit, list[Event]], Awaitable[T]]


@dataclass(slots=True)
class _Run:
    """One request's attempt loop across its models."""

    models: ModelQueue
    deadline: float
    last: UpstreamError | None = None


class Executor(HedgeRace):
    """The terminal step (see the module docstring); ``start``/``close`` run the health prober."""

    def __init__(
        self,
        models: Sequence[ModelConfig],
        registry: DeploymentRegistry,
        pool: HttpPool,
        *,
        retry: RetryConfig | None = None,
        probes: ProberConfig | None = None,
        routes: Sequence[RouteConfig] = (),
        balancer: Balancer | None = None,
        health: DeploymentHealth | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        self.models: Mapping[str, ModelConfig] = {m.name: m for m in models}
        self.registry = registry
        self.pool = pool
        self.balancer = balancer or Balancer()
        self.health = health or DeploymentHealth()
        self.policy = RetryPolicy(retry or RetryConfig(), rng or random.Random())
        self.picker = AttemptPicker(self.balancer, self.health)
        self.prober = HealthProber(registry, pool, list(models), probes, self.health.redactor)
        self._sleep = sleep  # tests inject a fast one where backoff is not what they test
        self.routes: Mapping[str, RouteConfig] = {r.name: r for r in routes}
        self.ttft = TtftHistory()
        self.resume = Resume(self)

    def failover(self, ctx: RequestContext, mcfg: ModelConfig) -> FailoverConfig:
        """The failover knobs for a call to ``mcfg``: the route's when it sets them, else the model's."""
        route = self.routes.get(ctx.route) if ctx.route else None
        return route.failover if route is not None and route.failover is not None else mcfg.failover

    def stream_resume(self, ctx: RequestContext, mcfg: ModelConfig) -> bool:
        route = self.routes.get(ctx.route) if ctx.route else None
        if route is not None and route.stream_resume is not None:
            return route.stream_resume
        return mcfg.stream_resume

    async def __call__(self, ctx: RequestContext) -> Reply:
        if ctx.request.stream:
            return Reply(events=await self._open_stream(ctx))
        try:
            response = await self._attempts(ctx, self._complete_once)
        except GatewayError as err:
            mark_failed(ctx, err)
            raise
        ctx.response_text = response.content
        return Reply(response=response)

    async def start(self) -> None:
        """Start the active health prober when a model asks for one (``breaker.probe_interval_s``)."""
        self.prober.start()

    async def close(self) -> None:
        await self.prober.close()

    async def probe(self, dep: Deployment) -> bool:
        """Probe ``dep`` once (see ``HealthProber.probe``)."""
        return await self.prober.probe(dep)

    # -- the attempt loop, shared by both modes -------------------------------------------

    async def _attempts(self, ctx: RequestContext, once: Once[T]) -> T:
        if not ctx.candidates:
            raise GatewayError("no model to call", code="no_candidates")
        models = ModelQueue(ctx.candidates)
        first = self.models.get(models.first)
        run = _Run(models, time.monotonic() + (first.timeouts.total if first else 600.0))
        for name in models:
            mcfg = self.models.get(name)
            if mcfg is None:
                continue
            result = await self._try_model(ctx, once, run, name, mcfg)
            if result is not _NEXT_MODEL:
                return result
        if run.last is None:
            raise GatewayError(f"none of the models {models.names} is configured", code="no_candidates")
        raise final_error(run.last)

    async def _try_model(self, ctx: RequestContext, once: Once[T], run: _Run, name: str, mcfg: ModelConfig) -> Any:
        """Up to ``max_attempts`` calls to ``name``: the answer, or ``_NEXT_MODEL``."""
        model = ModelTries(self.registry.deployments(name))
        while model.tries < mcfg.max_attempts:
            if time.monotonic() >= run.deadline:
                last = run.last
                raise final_error(
                    UpstreamError(
                        f"the request's deadline passed after {len(ctx.attempts)} attempt(s)"
                        + (f"; last error: {last.message}" if last else ""),
                        kind="timeout",
                    )
                )
            picked = self.picker.pick(name, mcfg.strategy, model)
            model.waited_for = model.again = None
            if picked is None:
                if run.last is None or run.last.kind == "unavailable":
                    run.last = self.picker.unavailable(name, model.deps)
                break
            dep, permit = picked
            model.tries += 1
            delay = self._hedge_delay(ctx, run, mcfg, model, dep)
            if delay is None:
                result = await self._attempt(ctx, once, run, mcfg, model, dep, permit)
            else:
                result = await self._hedged(ctx, once, run, mcfg, model, Leg(dep, permit, name, []), delay)
            if result is _NEXT_MODEL:
                break
            if result is _AGAIN:
                continue
            if isinstance(result, Won):
                dep, name, result = result.dep, result.model, result.result
            ctx.fallback_used = name != run.models.first
            ctx.answered_by = dep.id
            ctx.answered_model = name
            return result
        return _NEXT_MODEL

    async def _attempt(
        self,
        ctx: RequestContext,
        once: Once[T],
        run: _Run,
        mcfg: ModelConfig,
        model: ModelTries,
        dep: Deployment,
        permit: Permit,
    ) -> Any:
        """One call to ``dep``: its answer, or what to do next (``_AGAIN`` or ``_NEXT_MODEL``)."""
        try:
            return await self._leg(ctx, once, run, Leg(dep, permit, mcfg.name, []))
        except UpstreamError as err:
            run.last = err
            return await self._after_failure(ctx, err, run, mcfg, model, dep)

    async def _leg(self, ctx: RequestContext, once: Once[T], run: _Run, leg: Leg) -> Any:
        """One call; a failure is recorded and raised. The in-flight slot is held until the
        failure is handled (a backoff is slept in it); a held stream keeps it until it settles."""
        dep, permit = leg.dep, leg.permit
        t_start = time.perf_counter()
        dep.in_flight += 1
        handed_off = False
        try:
            result = await once(ctx, dep, run.deadline, permit, leg.sink)
            handed_off = isinstance(result, HeldStream)
            self.ttft.observe(dep.id, ctx.request.stream, time.perf_counter() - t_start)
            return result
        except UpstreamError as err:
            err.deployment = dep.id
            self._record_failure(ctx, dep, err, t_start, permit)
            raise
        except asyncio.CancelledError:
            # The client went away (the server cancels its handler), or the call lost a hedge race.
            self.health.on_neutral(dep, permit)
            latency_ms = (time.perf_counter() - t_start) * 1000
            attempt = Attempt(dep.id, leg.model, "cancelled", None, 0.0, latency_ms)
            if leg.lost:
                attempt.status, attempt.error = "hedge_lost", "another call answered first"
                charge(ctx, attempt, dep, _held_usage(leg.sink))
            else:
                mark_disconnected(ctx, attempt)
            ctx.attempts.append(attempt)
            raise
        except BaseException:
            self.health.on_neutral(dep, permit)
            raise
        finally:
            if not handed_off:
                dep.in_flight -= 1

    # -- after a failure -------------------------------------------------------------------------

    async def _after_failure(
        self, ctx: RequestContext, err: UpstreamError, run: _Run, mcfg: ModelConfig, model: ModelTries, dep: Deployment
    ) -> object:
        """Act on the retry policy's decision: ``_AGAIN`` or ``_NEXT_MODEL`` (or raise)."""
        model.failed.add(dep.id)
        if await self._short_wait(ctx, err, run, mcfg, model, dep):
            return _AGAIN
        action = self.policy.decide(
            err,
            tries=model.tries,
            max_attempts=mcfg.max_attempts,
            fresh_left=lambda: self.picker.has_fresh(model),
            fallback_left=run.models.has_next(),
            retry_before_fallback=mcfg.retry_before_fallback,
        )
        if action is Action.RAISE:
            raise final_error(err) from None
        if action is Action.CONTEXT_FALLBACK:
            if mcfg.context_fallback:
                run.models.queue_next(mcfg.context_fallback)
            return _NEXT_MODEL
        if action is Action.COOL_DOWN:
            cool_down(dep, self.policy.cooldown_s(dep.cooldown_s, err.retry_after_s))
            return _AGAIN
        pause_s = self.policy.pause_s(err)
        if pause_s is not None:
            pause(dep, pause_s)  # the provider asked for a pause: no request calls it again before then
        if action is Action.NEXT_MODEL:
            return _NEXT_MODEL
        if action is Action.OTHER_DEPLOYMENT:
            return _AGAIN
        delay = self.policy.backoff(model.backoff_n, err.retry_after_s)
        model.backoff_n += 1
        if time.monotonic() + delay >= run.deadline:
            return _NEXT_MODEL
        await self._sleep(delay)
        model.waited_for = dep
        return _AGAIN

    async def _short_wait(
        self, ctx: RequestContext, err: UpstreamError, run: _Run, mcfg: ModelConfig, model: ModelTries, dep: Deployment
    ) -> bool:
        """Wait out a short Retry-After, or take the quick retry, on ``dep``: whether it did."""
        if model.tries >= mcfg.max_attempts:
            return False
        fo = self.failover(ctx, mcfg)
        wait = self.policy.short_wait_s(err, fo, waited=model.waited, quick_used=model.quick_used)
        if wait is None or time.monotonic() + wait >= run.deadline:
            return False
        if err.retry_after_s is not None:
            model.waited = True
            pause(dep, err.retry_after_s)  # other requests keep off it meanwhile
        else:
            model.quick_used = True
        await self._sleep(wait)
        model.waited_for = model.again = dep
        return True

    def _record_failure(
        self, ctx: RequestContext, dep: Deployment, err: UpstreamError, t_start: float, permit: Permit
    ) -> None:
        self.health.on_failure(dep, err, permit)
        latency_ms = (time.perf_counter() - t_start) * 1000
        attempt = Attempt(dep.id, dep.target.model_name, err.kind, None, 0.0, latency_ms, err.message)
        charge(ctx, attempt, dep, getattr(err, "partial_usage", None))
        ctx.attempts.append(attempt)

    # -- the two modes ----------------------------------------------------------------------

    async def _complete_once(
        self, ctx: RequestContext, dep: Deployment, deadline: float, permit: Permit, sink: list[Event]
    ) -> Any:
        t_start = time.perf_counter()
        caps = self.models[dep.target.model_name].upstream_caps if dep.target.model_name in self.models else None
        response = await transport.post(self.pool, dep, ctx.request, deadline, *([caps] if caps else []))
        # A whole answer took generation time too: take it out, so the estimate stays a time to first token.
        # The speed is the configured prior, so keep at least a tenth of the measured time.
        total_ms = (time.perf_counter() - t_start) * 1000
        gen_ms = 1000.0 * response.usage.output_tokens / dep.tokens_per_s
        dep.observe_ttft(max(0.1 * total_ms, total_ms - gen_ms))
        ctx.ttft_ms = ctx.elapsed_ms()
        self.health.on_success(dep, permit)
        earlier = ctx.usage.total_tokens
        attempt = Attempt(dep.id, dep.target.model_name, "ok")
        charge(ctx, attempt, dep, response.usage)
        if earlier:
            # Earlier failed attempts (or cascade stages) consumed tokens too: report them all.
            response.usage = ctx.usage
        attempt.latency_ms = (time.perf_counter() - t_start) * 1000
        ctx.attempts.append(attempt)
        return response

    async def _open_stream(self, ctx: RequestContext) -> HeldStream:
        try:
            return await self._attempts(ctx, self._open_held)
        except GatewayError as err:
            mark_failed(ctx, err)
            raise

    def stream_options(self, ctx: RequestContext, mcfg: ModelConfig | None, sink: list[Event]) -> StreamOptions:
        """How a stream of ``mcfg`` is read for ``ctx``: caps, tolerance, and resume when on."""
        if mcfg is None:
            return StreamOptions(sink=sink)
        fo = self.failover(ctx, mcfg)
        resumer = self.resume.resumer(ctx, mcfg) if self.stream_resume(ctx, mcfg) else None
        return StreamOptions(mcfg.upstream_caps, fo.malformed_events_skipped, resumer, sink=sink)

    async def _open_held(
        self, ctx: RequestContext, dep: Deployment, deadline: float, permit: Permit, sink: list[Event]
    ) -> HeldStream:
        opts = self.stream_options(ctx, self.models.get(dep.target.model_name), sink)
        return await open_held_stream(self.pool, self.health, ctx, dep, deadline, permit, opts)


def _held_usage(sink: list[Event]) -> Any:
    """The last usage a cancelled stream's opening reported (Anthropic's message_start), if any."""
    for ev in reversed(sink):
        if isinstance(ev, UsageEvent):
            return ev.usage
    return None
