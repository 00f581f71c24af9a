"""The routing step: for ``model: "auto"`` or a named route, choose the cheapest plan whose
predicted quality meets the request's floor and whose predicted p95 latency meets its ceiling.

Predictions per candidate: quality from the route's trained router (``faregate train``), or
the model's configured ``quality`` prior when no router knows it, corrected online by the
learning loop; cost from the model's prices and the estimated tokens; latency from live
time-to-first-token statistics (config priors until measured) plus output tokens / speed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from ..config import GatewayConfig, ModelConfig, RouteConfig
from ..core.errors import InvalidRequest, PermissionDenied
from ..endpoints.deployments import DeploymentRegistry
from .constraints import Constraints, resolve_constraints
from .context import Reply, RequestContext
from .step import Next, Step

# Typical answer length per task, for cost and latency estimates when max_tokens is not given.
OUTPUT_TOKENS = {"classify": 16, "extract_json": 150, "summarize": 200, "chat": 250, "generate": 500,
                 "code": 400, "multiple_choice": 8}
P95_FACTOR = 1.5  # p95 over the moving mean, until enough live samples exist


@dataclass
class Prediction:
    model: str
    quality: float
    cost_usd: float
    latency_ms: float
    feasible: bool = True
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "predicted_quality": round(self.quality, 4),
                "predicted_cost_usd": self.cost_usd, "predicted_p95_latency_ms": round(self.latency_ms, 1),
                "feasible": self.feasible, "excluded_because": self.reasons}


@dataclass
class RoutePlan:
    route: str
    kind: str                 # "single" | "cascade"
    models: list[str]         # in call order
    predicted_quality: float
    predicted_cost_usd: float
    predicted_latency_ms: float
    constraint_unmet: bool
    constraints: Constraints
    candidates: list[Prediction]
    judge: str | None = None
    arm: str = "routed"       # "routed", or "control" for the fixed-model arm of a gradual rollout
    explored: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "kind": self.kind, "models": self.models, "judge": self.judge,
                "arm": self.arm, "explored": self.explored,
                "predicted_quality": round(self.predicted_quality, 4),
                "predicted_cost_usd": self.predicted_cost_usd,
                "predicted_p95_latency_ms": round(self.predicted_latency_ms, 1),
                "constraint_unmet": self.constraint_unmet, "constraints": self.constraints.as_dict(),
                "candidates": [c.as_dict() for c in self.candidates]}


class QualitySource:
    """Where quality predictions come from. Extension point: ``predict`` returns, for each
    candidate model name, the probability its answer to this request meets the floor."""

    def predict(self, ctx: RequestContext, task: str | None, models: list[ModelConfig]) -> dict[str, float]:
        return {m.name: m.quality for m in models}


class RoutingStep(Step):
    def __init__(self, config: GatewayConfig, registry: DeploymentRegistry, *,
                 quality: QualitySource | None = None, learning=None) -> None:
        self.config = config
        self.registry = registry
        self.quality = quality or QualitySource()
        self.learning = learning
        self.routes: dict[str, RouteConfig] = {r.name: r for r in config.routes}
        if "auto" not in self.routes:
            self.routes["auto"] = RouteConfig(name="auto")
        self._models = {m.name: m for m in config.models}

    # -- planning (also used by POST /v1/route, which calls nothing) --------------------------

    def candidates(self, ctx: RequestContext, route: RouteConfig) -> tuple[list[ModelConfig], list[Prediction]]:
        req = ctx.request
        names = route.candidates or list(self._models)
        allowed = ctx.principal.models if ctx.principal is not None else None
        needs = set()
        if req.tools:
            needs.add("tools")
        if req.response_format:
            needs.add("json")
        if any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in req.messages):
            needs.add("vision")
        in_tokens = self.input_tokens(ctx)
        usable, excluded = [], []
        for n in names:
            m = self._models[n]
            why = []
            if allowed is not None and n not in allowed:
                why.append("not allowed for this key")
            missing = needs - set(m.capabilities)
            if missing:
                why.append(f"lacks {', '.join(sorted(missing))}")
            if in_tokens + (req.max_tokens or 0) > m.context_window:
                why.append("prompt exceeds its context window")
            if why:
                excluded.append(Prediction(n, 0.0, 0.0, 0.0, False, why))
            else:
                usable.append(m)
        return usable, excluded

    @staticmethod
    def input_tokens(ctx: RequestContext) -> int:
        cached = ctx.extras.get("input_tokens_est")
        if cached is None:
            cached = ctx.extras["input_tokens_est"] = len(ctx.request.prompt_text()) // 4 + 4 * len(ctx.request.messages)
        return cached

    def latency_ms(self, m: ModelConfig, out_tokens: int) -> float:
        live = [d.ttft_ewma_ms for d in self.registry.deployments(m.name) if d.ttft_ewma_ms is not None]
        ttft = min(live) if live else m.latency.ttft_ms
        return P95_FACTOR * ttft + 1000.0 * out_tokens / m.latency.tokens_per_s

    def plan(self, ctx: RequestContext, route_name: str) -> RoutePlan:
        route = self.routes[route_name]
        task = ctx.request.routing.get("task") if ctx.request.routing else None
        inferred = task or ctx.extras.get("task") or infer_task(ctx)
        ctx.extras["task"] = inferred
        cons = resolve_constraints(ctx.request.routing, route, self.config, inferred)
        usable, excluded = self.candidates(ctx, route)
        if not usable:
            if excluded and all("not allowed for this key" in p.reasons for p in excluded):
                raise PermissionDenied(f"This key may use none of route {route_name!r}'s models.", param="model")
            raise InvalidRequest(f"No model of route {route_name!r} can serve this request: "
                                 + "; ".join(f"{p.model} {', '.join(p.reasons)}" for p in excluded), param="model")
        quality = self.quality.predict(ctx, cons.task, usable)
        explored = False
        if self.learning is not None:
            x = self.learning_features(ctx, cons.task)
            quality, explored = self.learning.adjust(ctx.request_id, x, quality)
        in_tokens = self.input_tokens(ctx)
        out_tokens = ctx.request.max_tokens or OUTPUT_TOKENS.get(cons.task or "", 256)
        preds = []
        for m in usable:
            p = m.prices
            cost = (in_tokens * p.input + out_tokens * p.output) / 1_000_000
            pr = Prediction(m.name, quality[m.name], cost, self.latency_ms(m, out_tokens))
            if cons.max_latency_ms is not None and pr.latency_ms > cons.max_latency_ms:
                pr.feasible = False
                pr.reasons.append("over the latency ceiling")
            if cons.max_cost_usd is not None and pr.cost_usd > cons.max_cost_usd:
                pr.feasible = False
                pr.reasons.append("over the cost ceiling")
            preds.append(pr)
        plan = choose(route_name, cons, preds)
        plan.candidates = preds + excluded
        plan.explored = explored
        return plan

    def learning_features(self, ctx: RequestContext, task: str | None):
        x = ctx.extras.get("bandit_x")
        if x is None:
            from ..learning.features import bandit_features
            x = ctx.extras["bandit_x"] = bandit_features(ctx.request.prompt_text(), task,
                                                         input_tokens=self.input_tokens(ctx))
        return x

    # -- the step --------------------------------------------------------------------------

    async def handle(self, ctx: RequestContext, call_next: Next) -> Reply:
        if ctx.route is None:
            return await call_next(ctx)
        route = self.routes.get(ctx.route)
        if route is None:
            return await call_next(ctx)
        if route.rollout < 1.0 and route.control_model and _bucket(ctx.request_id) >= route.rollout:
            # The control arm of a gradual rollout: the fixed model, recorded as such.
            ctx.extras["arm"] = "control"
            ctx.candidates = [route.control_model, *self._models[route.control_model].fallbacks]
            ctx.response_headers["x-faregate-route"] = route.name
            ctx.response_headers["x-faregate-arm"] = "control"
            return await call_next(ctx)
        plan = self.plan(ctx, route.name)
        ctx.plan = plan
        ctx.extras["arm"] = "routed"
        ctx.constraint_unmet = plan.constraint_unmet
        ctx.candidates = list(plan.models) + [f for f in self._models[plan.models[-1]].fallbacks
                                              if f not in plan.models]
        h = ctx.response_headers
        h["x-faregate-route"] = route.name
        h["x-faregate-predicted-quality"] = f"{plan.predicted_quality:.4f}"
        h["x-faregate-predicted-cost-usd"] = f"{plan.predicted_cost_usd:.10f}".rstrip("0").rstrip(".")
        if plan.constraint_unmet:
            h["x-faregate-constraint-unmet"] = "true"
        if self.learning is not None:
            ctx.on_finish.append(self._learn)
        return await call_next(ctx)

    def _learn(self, ctx: RequestContext) -> None:
        plan: RoutePlan = ctx.plan
        model = ctx.answered_model or plan.models[0]
        offline = self.quality.predict(ctx, plan.constraints.task, [self._models[model]])[model]
        key = ctx.principal.key_id if ctx.principal else None
        self.learning.remember(ctx.request_id, model, ctx.extras["bandit_x"], offline, key,
                               ctx.request.prompt_text())
        if ctx.status >= 500 or ctx.error_class in ("timeout", "transient"):
            self.learning.signal_failure(ctx.request_id)


def choose(route: str, cons: Constraints, preds: list[Prediction]) -> RoutePlan:
    """Cheapest feasible prediction meeting the floor; else best quality within the hard limits."""
    feasible = [p for p in preds if p.feasible]
    meeting = [p for p in feasible if p.quality >= cons.min_quality]
    unmet = not meeting
    if meeting:
        best = min(meeting, key=lambda p: (p.cost_usd, -p.quality))
    else:
        pool = feasible or preds
        best = max(pool, key=lambda p: (p.quality, -p.cost_usd))
    return RoutePlan(route, "single", [best.model], best.quality, best.cost_usd, best.latency_ms, unmet, cons, [])


def infer_task(ctx: RequestContext) -> str | None:
    req = ctx.request
    if req.response_format:
        return "extract_json"
    try:
        from ..routing.features import infer_task as routing_infer
    except ImportError:
        return None
    return routing_infer(req.prompt_text())


def _bucket(request_id: str) -> float:
    return (zlib.crc32(request_id.encode()) % 10_000) / 10_000.0
