"""The routing step: for ``model: "auto"`` or a named route, choose the cheapest plan whose
predicted quality meets the request's floor and whose predicted p95 latency meets its ceiling.

Per candidate plan (a single model, or a cascade: cheap models, a judge, a strong model):
quality from the route's trained router (``faregate train``), or the model's configured
``quality`` prior when no router knows it, corrected online by the learning loop; cost from
the models' prices and the estimated tokens; latency from live time-to-first-token
statistics (config priors until measured) plus output tokens over speed. The choice itself is
``routing.policy.choose``, a pure function.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from ..config import GatewayConfig, ModelConfig, RouteConfig
from ..core.errors import GatewayError, InvalidRequest, PermissionDenied
from ..core.types import ChatResponse, Event, Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent
from ..endpoints.deployments import DeploymentRegistry
from ..routing import features as F
from ..routing.cascade import json_valid, run_agreement
from ..routing.policy import Candidate, choose, within_limits
from .constraints import Constraints, resolve_constraints
from .context import Reply, RequestContext
from .step import Next, Step

log = logging.getLogger("faregate.routing")

# Typical answer length per task, for cost and latency estimates when max_tokens is not given.
OUTPUT_TOKENS = {
    "classify": 16,
    "extract_json": 150,
    "summarize": 200,
    "chat": 250,
    "generate": 500,
    "code": 400,
    "multiple_choice": 8,
}
P95_FACTOR = 1.5  # p95 over the moving mean of time to first token


@dataclass
class RoutePlan:
    route: str
    kind: str  # "single" | "cascade"
    models: list[str]  # in call order
    judge: str | None
    predicted_quality: float
    predicted_cost_usd: float
    predicted_latency_ms: float
    constraint_unmet: bool
    constraints: Constraints
    candidates: list[dict[str, Any]] = field(default_factory=list)
    arm: str = "routed"  # "routed", or "control" for the fixed-model arm of a gradual rollout
    explored: bool = False
    # Offline (pre-learning) quality per single model, the baseline the learner corrects.
    offline_quality: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "kind": self.kind,
            "models": self.models,
            "judge": self.judge,
            "arm": self.arm,
            "explored": self.explored,
            "predicted_quality": round(self.predicted_quality, 4),
            "predicted_cost_usd": self.predicted_cost_usd,
            "predicted_p95_latency_ms": round(self.predicted_latency_ms, 1),
            "constraint_unmet": self.constraint_unmet,
            "constraints": self.constraints.as_dict(),
            "candidates": self.candidates,
        }


class RouterSource:
    """Where a route's quality predictions come from: its trained router, if any.

    Extension point: ``candidates`` returns policy ``Candidate`` plans for one request."""

    def __init__(self, router=None) -> None:
        self.router = router

    @classmethod
    def load(cls, path: str | None) -> RouterSource:
        if not path:
            return cls(None)
        from ..routing.model import RouterModel

        return cls(RouterModel.load(path))

    def candidates(
        self,
        feats: F.RequestFeatures,
        models: list[ModelConfig],
        *,
        latency_ms: dict[str, float],
        cost_usd: dict[str, float],
        cascades: bool,
    ) -> list[Candidate]:
        out: list[Candidate] = []
        known: set[str] = set()
        if self.router is not None:
            names = {
                (m.router_name or m.name): m.name for m in models if (m.router_name or m.name) in self.router.models
            }
            out = self.router.candidates(
                feats, latency_ms=latency_ms, names=names, cost_usd=cost_usd, cascades=cascades
            )
            known = set(names.values())
        for m in models:  # models the router does not know: their configured prior
            if m.name not in known:
                out.append(Candidate((m.name,), m.quality, cost_usd[m.name], latency_ms[m.name]))
        return out

    def accept(
        self,
        judge: str | None,
        feats: F.RequestFeatures,
        called: list[ModelConfig],
        answers: list[str | None],
        schema: dict | None,
    ) -> bool:
        """Whether a cascade stops at its latest answer (the router's judges, by data names)."""
        if self.router is not None:
            return self.router.accept(judge, feats, [m.router_name or m.name for m in called], answers, schema)
        if not answers or answers[-1] is None:
            return False
        if judge == "agree":
            return len(answers) >= 2 and run_agreement(answers)
        if judge == "json":
            return json_valid(answers[-1], schema)
        return False


class RoutingStep(Step):
    def __init__(
        self,
        config: GatewayConfig,
        registry: DeploymentRegistry,
        *,
        learning=None,
        sources: dict[str, RouterSource] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.learning = learning
        self.routes: dict[str, RouteConfig] = {r.name: r for r in config.routes}
        if "auto" not in self.routes:
            self.routes["auto"] = RouteConfig(name="auto", router_model=config.router_model)
        self._models = {m.name: m for m in config.models}
        self.calibration = load_calibration(config.calibration_file)
        # Router files load once, at construction (start-up), never per request.
        if sources is None:
            cache: dict[str | None, RouterSource] = {}
            sources = {}
            for name, r in self.routes.items():
                path = r.router_model or config.router_model
                if path not in cache:
                    cache[path] = RouterSource.load(path)
                sources[name] = cache[path]
        self.sources = sources

    # -- planning (also used by POST /v1/route and `faregate analyze`, which call nothing) -----

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

    def _usable(self, ctx: RequestContext, route: RouteConfig, feats: F.RequestFeatures):
        names = route.candidates or list(self._models)
        allowed = ctx.principal.models if ctx.principal is not None else None
        needs = set()
        if feats.has_tools:
            needs.add("tools")
        if ctx.request.response_format:
            needs.add("json")
        if feats.has_images:
            needs.add("vision")
        usable, excluded = [], []
        for n in names:
            m = self._models[n]
            why = []
            if allowed is not None and n not in allowed:
                why.append("not allowed for this key")
            missing = needs - set(m.capabilities)
            if missing:
                why.append(f"lacks {', '.join(sorted(missing))}")
            if feats.input_tokens + (ctx.request.max_tokens or 0) > m.context_window:
                why.append("prompt exceeds its context window")
            if why:
                excluded.append({"models": [n], "excluded_because": why})
            else:
                usable.append(m)
        return usable, excluded

    def latency_ms(self, m: ModelConfig, out_tokens: int) -> float:
        live = [d.ttft_ewma_ms for d in self.registry.deployments(m.name) if d.ttft_ewma_ms is not None]
        cal = self.calibration.get(m.name, {})
        if live:
            ttft = P95_FACTOR * min(live)
        elif cal.get("ttft_ms_p95") is not None:
            ttft = cal["ttft_ms_p95"]
        else:
            ttft = P95_FACTOR * m.latency.ttft_ms
        speed = cal.get("tokens_per_s") or m.latency.tokens_per_s
        return ttft + 1000.0 * out_tokens / speed

    def plan(self, ctx: RequestContext, route_name: str) -> RoutePlan:
        route = self.routes[route_name]
        feats = self.features(ctx)
        cons = resolve_constraints(ctx.request.routing, route, self.config, feats.task)
        ctx.task = cons.task
        usable, excluded = self._usable(ctx, route, feats)
        if not usable:
            if excluded and all("not allowed for this key" in e["excluded_because"] for e in excluded):
                raise PermissionDenied(f"This key may use none of route {route_name!r}'s models.", param="model")
            raise InvalidRequest(
                f"No model of route {route_name!r} can serve this request: "
                + "; ".join(f"{e['models'][0]} {', '.join(e['excluded_because'])}" for e in excluded),
                param="model",
            )
        out_tokens = ctx.request.max_tokens or OUTPUT_TOKENS.get(cons.task or "", 256)
        cost = {m.name: (feats.input_tokens * m.prices.input + out_tokens * m.prices.output) / 1e6 for m in usable}
        latency = {m.name: self.latency_ms(m, out_tokens) for m in usable}
        cascades = self.config.cascades and not ctx.request.tools  # a judge compares text answers
        cands = self.sources[route_name].candidates(feats, usable, latency_ms=latency, cost_usd=cost, cascades=cascades)
        if self.calibration:  # measured per-task quality replaces a prior-only model's configured one
            cands = [self._calibrated(c, cons.task) for c in cands]
        offline = {c.models[0]: c.quality for c in cands if len(c.models) == 1}
        explored = False
        if self.learning is not None:
            x = self.learning_features(ctx, cons.task)
            adjusted, explored = self.learning.adjust(ctx.request_id, x, offline)
            cands = [
                Candidate(c.models, adjusted[c.models[0]], c.cost_usd, c.latency_ms, c.judge, c.worst_cost_usd)
                if len(c.models) == 1
                else c
                for c in cands
            ]
        chosen = choose(
            cands, min_quality=cons.min_quality, max_latency_ms=cons.max_latency_ms, max_cost_usd=cons.max_cost_usd
        )
        explained = []
        for c in cands:
            d = c.as_dict()
            d["within_limits"] = within_limits(c, cons.max_latency_ms, cons.max_cost_usd)
            d["meets_floor"] = c.quality >= cons.min_quality
            explained.append(d)
        return RoutePlan(
            route_name,
            chosen.kind,
            chosen.models,
            chosen.judge,
            chosen.predicted_quality,
            chosen.predicted_cost_usd,
            chosen.predicted_latency_ms,
            chosen.constraint_unmet,
            cons,
            explained + excluded,
            explored=explored,
            offline_quality=offline,
        )

    def _calibrated(self, c: Candidate, task: str | None) -> Candidate:
        if len(c.models) != 1 or self.sources_know(c.models[0]):
            return c
        q = self.calibration.get(c.models[0], {}).get("quality_by_task", {}).get(task or "other")
        return (
            c if q is None else Candidate(c.models, q["quality"], c.cost_usd, c.latency_ms, c.judge, c.worst_cost_usd)
        )

    def sources_know(self, model: str) -> bool:
        m = self._models[model]
        return any(s.router is not None and (m.router_name or m.name) in s.router.models for s in self.sources.values())

    def learning_features(self, ctx: RequestContext, task: str | None):
        x = ctx.bandit_features
        if x is None:
            from ..learning.features import bandit_features

            x = ctx.bandit_features = bandit_features(
                self.features(ctx).text, task, input_tokens=self.input_tokens(ctx)
            )
        return x

    # -- the step --------------------------------------------------------------------------

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        if ctx.route is None or ctx.route not in self.routes:
            return call_next(ctx)  # a named model: nothing to route
        return self._route(ctx, call_next)

    async def _route(self, ctx: RequestContext, call_next: Next) -> Reply:
        route = self.routes[ctx.route]
        h = ctx.response_headers
        h["x-faregate-route"] = route.name
        if route.rollout < 1.0 and route.control_model and _bucket(ctx.request_id) >= route.rollout:
            # The control arm of a gradual rollout: the fixed model, recorded as such.
            ctx.arm = "control"
            ctx.candidates = [route.control_model, *self._models[route.control_model].fallbacks]
            h["x-faregate-arm"] = "control"
            return await call_next(ctx)
        plan = self.plan(ctx, route.name)
        ctx.plan = plan
        ctx.arm = "routed"
        ctx.constraint_unmet = plan.constraint_unmet
        h["x-faregate-predicted-quality"] = f"{plan.predicted_quality:.4f}"
        h["x-faregate-predicted-cost-usd"] = _usd(plan.predicted_cost_usd)
        if plan.constraint_unmet:
            h["x-faregate-constraint-unmet"] = "true"
        if plan.kind == "cascade":
            h["x-faregate-plan"] = f"{plan.judge}:{'>'.join(plan.models)}"
        if self.learning is not None:
            ctx.on_finish.append(self._learn)
        if plan.kind == "cascade":
            return await self._cascade(ctx, plan, call_next)
        last = plan.models[-1]
        ctx.candidates = [last] + [f for f in self._models[last].fallbacks if f != last]
        return await call_next(ctx)

    async def _cascade(self, ctx: RequestContext, plan: RoutePlan, call_next: Next) -> Reply:
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
                resp.usage = ctx.usage  # report everything the cascade consumed
                ctx.request.stream = want_stream
                return Reply(events=_as_events(resp)) if want_stream else reply
        raise AssertionError("unreachable: the last stage always returns")

    def _learn(self, ctx: RequestContext) -> None:
        plan: RoutePlan = ctx.plan
        model = ctx.answered_model or plan.models[-1]
        offline = plan.offline_quality.get(model)
        if offline is None or ctx.client_disconnected:
            return
        key = ctx.principal.key_id if ctx.principal else None
        self.learning.remember(ctx.request_id, model, ctx.bandit_features, offline, key, self.features(ctx).text)
        if ctx.status >= 500 or ctx.error_class in ("timeout", "transient"):
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


def load_calibration(path: str | None) -> dict[str, dict]:
    if not path:
        return {}
    import orjson

    with open(path, "rb") as f:
        return orjson.loads(f.read())


def _usd(x: float) -> str:
    return f"{x:.10f}".rstrip("0").rstrip(".") or "0"


def _bucket(request_id: str) -> float:
    return (zlib.crc32(request_id.encode()) % 10_000) / 10_000.0
