"""The observe step: metrics, the access-log line and the trace of each finished request.

Outermost in the chain, so it sees every request, refused ones included. It adds nothing
while the request runs: one ``on_finish`` hook reads the finished ``RequestContext`` (its
attempts, usage, cost, plan, status and the timed spans other steps recorded with
``ctx.record_span``) and feeds the Prometheus families, writes one access-log line and, with
tracing on, creates the spans after the fact with their real timestamps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any

from ..config import GatewayConfig
from ..core.types import Event, Finish
from ..endpoints.deployments import DeploymentRegistry
from ..observability.access_log import write_access
from ..observability.metrics import GatewayMetrics
from .context import Reply, RequestContext
from .step import Next, Step

if TYPE_CHECKING:
    from .services import Services

REJECTIONS = {
    "rate_limit_exceeded": "rate",
    "budget_exceeded": "budget",
    "concurrency_limit_exceeded": "concurrency",
}


def cache_outcome(ctx: RequestContext) -> str | None:
    """``hit``, ``miss`` or ``coalesced`` as the cache step set it in ``ctx.cache_outcome``; for a
    cache step that only marks its hits (``cache_hit``, ``cache_kind``), the hit; None: no lookup."""
    if ctx.cache_outcome is not None:
        return ctx.cache_outcome
    if ctx.cache_hit:
        return "coalesced" if ctx.cache_kind == "coalesced" else "hit"
    return None


def final_status(ctx: RequestContext) -> int:
    return 500 if ctx.error_class and ctx.status < 400 else ctx.status


class ObserveStep(Step):
    """See the module docstring; built per snapshot over the gateway's long-lived services."""

    def __init__(
        self,
        config: GatewayConfig,
        services: Services,
        deployments: DeploymentRegistry,
        *,
        secrets: frozenset[str] = frozenset(),
    ) -> None:
        self.metrics: GatewayMetrics | None = services.metrics
        self.tracing = services.tracing
        self.capture_content = config.tracing.capture_content
        self.access = config.access_log.enabled
        self.services = services
        self.deployments = deployments
        self.provider = {d.id: d.target.provider for d in deployments.all()}
        self.known = {"auto", *(m.name for m in config.models), *(r.name for r in config.routes)}
        self.secrets = secrets
        if self.tracing is not None:  # the OpenTelemetry SDK comes with it: imported only when tracing is on
            from .observe_trace import export_trace

            self._export_trace = export_trace

    async def start(self) -> None:
        """Point the gateway's upstream events (breaker transitions, failures) at this snapshot."""
        events = self.services.events
        if events is not None:
            events.attach(self.deployments.all(), self.secrets)

    def handle(self, ctx: RequestContext, call_next: Next) -> Awaitable[Reply]:
        ctx.on_record.append(self._hook)
        if self.tracing is None:
            return call_next(ctx)
        # Sampling first: an unsampled request runs exactly as with tracing off.
        ctx.trace = self.tracing.decide(ctx.traceparent)
        if ctx.trace is None:
            return call_next(ctx)
        return self._traced(ctx, call_next)

    async def _traced(self, ctx: RequestContext, call_next: Next) -> Reply:
        reply = await call_next(ctx)
        if reply.response is not None:
            ctx.finish_reason = reply.response.finish_reason
        elif reply.events is not None:
            reply.events = _FinishReasons(ctx, reply.events)
        return reply

    def _hook(self, ctx: RequestContext) -> None:
        status = final_status(ctx)
        if self.metrics is not None:
            self._count(ctx, status)
        if self.access:
            write_access(self._line(ctx, status))
        if self.tracing is not None and ctx.trace is not None:
            self._export_trace(
                self.tracing, ctx, status, self.provider, capture_content=self.capture_content, secrets=self.secrets
            )

    def _count(self, ctx: RequestContext, status: int) -> None:
        m = self.metrics
        assert m is not None
        dep = ctx.answered_by or ""
        provider = self.provider.get(dep, "")
        requested = ctx.requested_model or ctx.request.model
        if requested not in self.known:  # a client's unknown name must not grow the label set
            requested = "unknown"
        model = ctx.answered_model or requested
        cache = cache_outcome(ctx)
        m.requests.inc((ctx.front, model, dep, provider, str(status), cache or "none"))
        elapsed = ctx.elapsed_ms() / 1000.0
        m.duration.observe(("chat", provider, requested, ctx.answered_model or ""), elapsed)
        if ctx.ttft_ms is not None:
            m.ttft.observe(("chat", provider, requested), ctx.ttft_ms / 1000.0)
        u = ctx.usage
        if u.input_tokens or u.output_tokens:
            m.token_usage.observe(("chat", provider, model, "input"), u.input_tokens)
            m.token_usage.observe(("chat", provider, model, "output"), u.output_tokens)
            m.tokens.inc((model, "input"), u.input_tokens)
            m.tokens.inc((model, "output"), u.output_tokens)
            if u.cached_input_tokens:
                m.tokens.inc((model, "cached"), u.cached_input_tokens)
        key = ctx.principal.key_id if ctx.principal is not None else ""
        if ctx.cost_usd:
            m.cost.inc((model, key), ctx.cost_usd)
        upstream = 0.0
        for a in ctx.attempts:
            m.attempts.inc((a.deployment, self.provider.get(a.deployment, ""), a.status))
            upstream += a.latency_ms
        if len(ctx.attempts) > 1:
            m.retries.inc((model,), len(ctx.attempts) - 1)
        if ctx.fallback_used:
            m.failovers.inc((model,))
        _count_failover(m, ctx, provider)
        m.overhead.observe((ctx.front,), max(0.0, elapsed - upstream / 1000.0))
        if ctx.error_class in REJECTIONS:
            m.rejections.inc((REJECTIONS[ctx.error_class], key))
        if cache is not None:
            m.cache.inc((cache,))
        for g, action, stage, _kinds in ctx.guardrail_decisions:
            m.guardrails.inc((g, action, stage))
        plan = ctx.plan
        if plan is not None:
            route = ctx.route or ""
            m.routing.inc((route, plan.models[0] if plan.models else "", plan.kind))
            if ctx.constraint_unmet:
                m.unmet.inc((route,))
        if ctx.experiment is not None:
            m.experiments.inc((ctx.experiment, ctx.experiment_arm or "", str(status)))

    def _line(self, ctx: RequestContext, status: int) -> dict[str, Any]:
        u = ctx.usage
        p = ctx.principal
        return {
            "request_id": ctx.request_id,
            "key": p.key_id if p is not None else None,
            "route": ctx.route,
            "model": ctx.answered_model or ctx.requested_model or None,
            "deployment": ctx.answered_by,
            "status": status,
            "latency_ms": round(ctx.elapsed_ms(), 2),
            "ttft_ms": round(ctx.ttft_ms, 2) if ctx.ttft_ms is not None else None,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cost_usd": round(ctx.cost_usd, 8),
            "cache": cache_outcome(ctx),
            "attempts": len(ctx.attempts),
            "error": ctx.error_class,
        }


def _count_failover(m: GatewayMetrics, ctx: RequestContext, provider: str) -> None:
    """Hedging and tolerant parsing, which the request log records in ``extra``."""
    if ctx.hedged:
        m.hedges.inc((ctx.hedge_winner or "failed",))
    if ctx.malformed_skipped:
        m.skipped_events.inc((provider,), ctx.malformed_skipped)


class _FinishReasons:
    """Pass a stream through, noting its finish reason for the trace; closing it closes the
    inner stream even before its first event (which an async generator would not)."""

    __slots__ = ("_ctx", "_events")

    def __init__(self, ctx: RequestContext, events: AsyncIterator[Event]) -> None:
        self._ctx, self._events = ctx, events

    def __aiter__(self) -> _FinishReasons:
        return self

    async def __anext__(self) -> Event:
        ev = await self._events.__anext__()
        if isinstance(ev, Finish):
            self._ctx.finish_reason = ev.reason
        return ev

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]
