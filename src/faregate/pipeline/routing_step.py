"""The routing step: for ``model: "auto"`` or a named route, plan the request and run the plan.

The plan comes from the pure planner (``routing.planner``): this step only gathers what it
needs from the request context and the snapshot (features, constraints, the deployments' live
time-to-first-token means, the learner), writes the plan and its headers into the context,
runs cascades stage by stage and registers the learning hook.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import orjson

from ..config import GatewayConfig, RouteConfig
from ..core.errors import GatewayError
from ..core.types import ChatResponse, Event, Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent
from ..endpoints.deployments import DeploymentRegistry
from ..routing import features as F
from ..routing.complexity import complexity
from ..routing.constraints import resolve_constraints
from ..routing.experiments import ExperimentIndex
from ..routing.plan import Plan
from ..routing.planner import Adjust, AdjustMean, Planner, PlanRequest
from ..routing.sources import RouterSource
from . import experiment_arm
from .context import Reply, RequestContext
from .step import Next, Step

log = logging.getLogger("faregate.routing")


class RoutingStep(Step):
    def __init__(
        self,
        config: GatewayConfig,
        registry: DeploymentRegistry,
        *,
        learning: Any = None,
        sources: dict[str, RouterSource] | None = None,
        calibration: Any = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.learning = learning
        # ``calibration``: the fleet's published one (``SharedCalibration``), read on every plan.
        self.planner = Planner(config, sources, calibration.get if calibration is not None else None)
        self.routes: dict[str, RouteConfig] = self.planner.routes
        self._models = self.planner.catalogue.models
        # None without a live experiment: a request then pays one None check.
        self.experiments = ExperimentIndex.build(config.experiments)
        if self.experiments is not None:
            experiment_arm.prepare(config, self.planner)

    @property
    def sources(self) -> dict[str, RouterSource]:
        return self.planner.sources

    # -- planning (also used by POST /v1/route, which calls nothing) ----------------------------

    @staticmethod
    def features(ctx: RequestContext) -> F.RequestFeatures:
        feats = ctx.features
        if feats is None:
            req = ctx.request
            task = req.routing.get("task") if req.routing else None
            feats = ctx.features = F.extract(req.messages, req.tools, req.response_format, task)
        return feats

    def input_tokens(self, ctx: RequestContext) -> int:
        return self.features(ctx).input_tokens

    def observed_ttft_ms(self, names: list[str]) -> dict[str, float]:
        """Per model, the lowest live time-to-first-token mean of its deployments (if measured)."""
        out = {}
        for n in names:
            live = [d.ttft_ewma_ms for d in self.registry.deployments(n) if d.ttft_ewma_ms is not None]
            if live:
                out[n] = min(live)
        return out

    def plan(self, ctx: RequestContext, route_name: str, *, batch_ok: bool | None = None) -> Plan:
        """``batch_ok``: the caller can take a deferred answer (the front's batch plan, the
        dry run); by default only a line already running in the batch tier may plan onto it."""
        route = self.routes[route_name]
        feats = self.features(ctx)
        key_mode = ctx.principal.mode if ctx.principal is not None else None
        cons = resolve_constraints(ctx.request.routing, route, self.config, feats.task, key_mode)
        ctx.task = cons.task
        request = PlanRequest(
            feats,
            cons,
            max_tokens=ctx.request.max_tokens,
            needs_json=bool(ctx.request.response_format),
            allowed=ctx.principal.models if ctx.principal is not None else None,
            stream=ctx.request.stream,
            batch_ok=ctx.batch_id is not None if batch_ok is None else batch_ok,
        )
        adjust: Adjust | None = None
        adjust_mean: AdjustMean | None = None
        if self.learning is not None:
            learning = self.learning

            def adjust(offline: dict[str, float]) -> tuple[dict[str, float], bool]:
                return learning.adjust(ctx.request_id, self.learning_features(ctx, cons.task), offline)

            def adjust_mean(offline: dict[str, float]) -> dict[str, float]:
                return learning.mean_adjusted(self.learning_features(ctx, cons.task), offline)

        observed = self.observed_ttft_ms(route.candidates or list(self._models))
        return self.planner.plan(route_name, request, observed_ttft_ms=observed, adjust=adjust, adjust_mean=adjust_mean)

    def learning_features(self, ctx: RequestContext, task: str | None) -> Any:
        x = ctx.bandit_features
        if x is None:
            from ..learning.features import bandit_features

            x = ctx.bandit_features = bandit_features(
                self.features(ctx).text, task, input_tokens=self.input_tokens(ctx)
            )
        return x

    # -- the step --------------------------------------------------------------------------

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        if self.experiments is not None:
            return self._experiment(ctx, self.experiments, call_next)
        if ctx.route is None or ctx.route not in self.routes:
            self._complexity(ctx, None)  # a named model: nothing to route, the class still shown
            return call_next(ctx)
        return self._route(ctx, self.routes[ctx.route], call_next)

    def _experiment(self, ctx: RequestContext, index: ExperimentIndex, call_next: Next) -> Awaitable[Reply]:
        """Swap the policy for the request's arm (if it takes part), then route as usual."""
        key = ctx.principal.key_id if ctx.principal is not None else None
        target = ctx.route or ctx.request.model
        got = index.assign(target, key, ctx.request.user, ctx.request_id)
        if got is None:
            return self._plain(ctx, call_next)
        route, model = experiment_arm.apply(ctx, got, ctx.route)
        if model is not None:
            ctx.candidates = [model, *self._models[model].fallbacks]
            self._complexity(ctx, None)
            return call_next(ctx)
        if route is None or route not in self.routes:
            return self._plain(ctx, call_next)
        return self._route(ctx, self.routes[route], call_next)

    def _plain(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        if ctx.route is None or ctx.route not in self.routes:
            self._complexity(ctx, None)
            return call_next(ctx)
        return self._route(ctx, self.routes[ctx.route], call_next)

    async def _route(self, ctx: RequestContext, route: RouteConfig, call_next: Next) -> Reply:
        h = ctx.response_headers
        h["x-faregate-route"] = route.name
        if route.rollout < 1.0 and route.control_model and _bucket(ctx.request_id) >= route.rollout:
            # The control arm of a gradual rollout: the fixed model, recorded as such.
            ctx.arm = "control"
            ctx.candidates = [route.control_model, *self._models[route.control_model].fallbacks]
            h["x-faregate-arm"] = "control"
            self._complexity(ctx, None)
            return await call_next(ctx)
        t_plan = time.perf_counter()
        plan = self.plan(ctx, route.name)
        ctx.record_span("routing", t_plan, route=route.name, plan=plan.kind)
        ctx.plan = plan
        ctx.arm = "routed"
        ctx.constraint_unmet = plan.constraint_unmet
        self._complexity(ctx, plan)
        if plan.tier == "batch":  # a line run by the batch tier: the batch plan names its model
            h["x-faregate-tier"] = "batch"
        if plan.constraints is not None and plan.constraints.mode:
            h["x-faregate-mode"] = plan.constraints.mode
        h["x-faregate-predicted-quality"] = f"{plan.predicted_quality:.4f}"
        h["x-faregate-predicted-cost-usd"] = _usd(plan.predicted_cost_usd)
        if plan.constraint_unmet:
            h["x-faregate-constraint-unmet"] = "true"
        if plan.explored:  # a bounded posterior sample chose the model, not the mean
            h["x-faregate-explored"] = "true"
        if plan.kind == "cascade":
            h["x-faregate-plan"] = f"{plan.judge}:{'>'.join(plan.models)}"
        earlier = None
        if self.learning is not None:
            ctx.on_finish.append(self._learn)
            earlier = self.learning.retry_of(
                ctx.request_id, self._key(ctx), self.features(ctx).text, _conversation(ctx)
            )
        if plan.kind == "cascade":
            reply = await self._cascade(ctx, plan, call_next)
        else:
            last = plan.models[-1]
            ctx.candidates = [last] + [f for f in self._models[last].fallbacks if f != last]
            reply = await call_next(ctx)
        if earlier is not None and not ctx.cache_hit:  # the cache answering a look-alike is no retry
            signal = self.learning.signal_retry(earlier)
            if signal is not None:
                h["x-faregate-signals"] = signal.header()
        return reply

    async def _cascade(self, ctx: RequestContext, plan: Plan, call_next: Next) -> Reply:
        """Call stage by stage until the judge accepts; the last stage (and its fallbacks) always answers."""
        want_stream = ctx.request.stream
        answers: list[str | None] = []
        schema = ctx.request.response_format
        reply: Reply | None = None
        for i, model in enumerate(plan.models):
            last = i == len(plan.models) - 1
            ctx.candidates = [model] + ([f for f in self._models[model].fallbacks if f != model] if last else [])
            if last:
                ctx.request.stream = want_stream
                ctx.cascade_calls = i + 1
                return await call_next(ctx)
            ctx.request.stream = False  # a judge needs the whole answer
            try:
                reply = await call_next(ctx)
            except GatewayError as err:
                if err.status < 500 and err.status != 429:
                    raise  # the request itself is wrong; a stronger model will not fix it
                answers.append(None)
                continue
            answers.append(reply.response.content if reply.response else None)
            called = [self._models[m] for m in plan.models[: i + 1]]
            if self.sources[plan.route].accept(plan.judge, self.features(ctx), called, answers, schema):
                ctx.cascade_calls = i + 1
                resp = reply.response
                assert resp is not None  # the judge accepted an answer
                resp.usage = ctx.usage  # report everything the cascade consumed
                ctx.request.stream = want_stream
                return Reply(events=_as_events(resp)) if want_stream else reply
        raise AssertionError("unreachable: the last stage always returns")

    def _complexity(self, ctx: RequestContext, plan: Plan | None) -> None:
        """The request's complexity class (the plan's, else the text heuristic's), for the
        ``x-faregate-complexity`` header and the request log."""
        level = plan.complexity if plan is not None else None
        if level is None:
            level = complexity(self.features(ctx))[0]
        ctx.complexity = level
        ctx.response_headers["x-faregate-complexity"] = level

    @staticmethod
    def _key(ctx: RequestContext) -> str | None:
        return ctx.principal.key_id if ctx.principal else None

    def _learn(self, ctx: RequestContext) -> None:
        plan = ctx.plan
        assert plan is not None and plan.constraints is not None  # set before this hook is registered
        model = ctx.answered_model or plan.models[-1]
        offline = plan.offline_quality.get(model)
        if offline is None or ctx.client_disconnected:
            return
        failed = ctx.status >= 500 or ctx.error_class in ("timeout", "transient")
        answered = not failed and ctx.status < 400
        self.learning.remember(ctx.request_id, model, ctx.bandit_features, offline, self._key(ctx), answered=answered)
        if failed:
            self.learning.signal_failure(ctx.request_id)
        elif plan.constraints.max_latency_ms is not None and ctx.elapsed_ms() > plan.constraints.max_latency_ms:
            self.learning.signal_slow(ctx.request_id)


async def _as_events(resp: ChatResponse) -> AsyncIterator[Event]:
    """A judged (hence complete) answer replayed as a stream."""
    yield StreamStart(resp.id, resp.model)
    if resp.content:
        yield TextDelta(resp.content)
    for i, tc in enumerate(resp.tool_calls):
        yield ToolCallDelta(i, tc.id, tc.name, tc.arguments)
    yield Finish(resp.finish_reason)
    yield UsageEvent(resp.usage)


def _conversation(ctx: RequestContext) -> int:
    """The conversation a prompt belongs to: a checksum of the messages before the last one (a
    retry re-sends the same history; a new turn of another conversation does not)."""
    earlier = ctx.request.messages[:-1]
    return zlib.crc32(orjson.dumps(earlier, default=repr)) if earlier else 0


def _usd(x: float) -> str:
    return f"{x:.10f}".rstrip("0").rstrip(".") or "0"


def _bucket(request_id: str) -> float:
    return (zlib.crc32(request_id.encode()) % 10_000) / 10_000.0
