"""One finished request as an OpenTelemetry trace (GenAI semantic conventions + ``faregate.*``).

The request span (kind SERVER, named ``<operation> <requested model>``: ``chat``, ``embeddings``
or ``text_completion`` by the request's kind, child of the client's
``traceparent`` when it sent one) has a child per timed step (``ctx.spans``: ``limits.check``,
``routing``, ``cache.lookup`` from a cache step...) and a child per upstream attempt (kind
CLIENT). The executor records each attempt's duration, not its start: attempts are laid
end to end after the last step span, in call order. Prompt and answer go on the request span
only with ``tracing.capture_content: true``, redacted (``core.redact``).
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.trace import SpanContext, SpanKind

from ..core.redact import redact
from ..observability.tracing import Tracing
from .context import RequestContext

MAX_CONTENT = 4000
# The GenAI semantic conventions' operation name of each request kind.
OPERATIONS = {"chat": "chat", "embedding": "embeddings", "completion": "text_completion"}


def _ns(ctx: RequestContext, perf: float) -> int:
    return int((ctx.started_at + (perf - ctx.t0)) * 1e9)


def _request_attributes(ctx: RequestContext, status: int, provider: str) -> dict[str, str | int | float | bool]:
    u = ctx.usage
    attrs: dict[str, str | int | float | bool] = {
        "gen_ai.operation.name": OPERATIONS.get(ctx.request.kind, "chat"),
        "gen_ai.request.model": ctx.requested_model or ctx.request.model,
        "gen_ai.usage.input_tokens": u.input_tokens,
        "gen_ai.usage.output_tokens": u.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": u.cached_input_tokens,
        "http.response.status_code": status,
        "faregate.request_id": ctx.request_id,
        "faregate.cost_usd": ctx.cost_usd,
        "faregate.attempts": len(ctx.attempts),
        "faregate.fallback": ctx.fallback_used,
        "faregate.cache_hit": ctx.cache_hit,
    }
    if provider:
        attrs["gen_ai.provider.name"] = provider
    if ctx.answered_model:
        attrs["gen_ai.response.model"] = ctx.answered_model
    if ctx.finish_reason:
        attrs["gen_ai.response.finish_reasons"] = ctx.finish_reason
    if ctx.route:
        attrs["faregate.route"] = ctx.route
    if ctx.principal is not None:
        attrs["faregate.key_id"] = ctx.principal.key_id
    plan = ctx.plan
    if plan is not None:
        attrs["faregate.plan"] = f"{plan.kind}:{'>'.join(plan.models)}"
        attrs["faregate.predicted_quality"] = plan.predicted_quality
        attrs["faregate.predicted_cost_usd"] = plan.predicted_cost_usd
        attrs["faregate.constraint_unmet"] = ctx.constraint_unmet
    if ctx.error_class:
        attrs["error.type"] = ctx.error_class
    if ctx.cache_outcome:
        attrs["faregate.cache"] = ctx.cache_outcome
    return attrs


def export_trace(
    tracing: Tracing,
    ctx: RequestContext,
    status: int,
    provider_of: Mapping[str, str],
    *,
    capture_content: bool = False,
    secrets: frozenset[str] = frozenset(),
) -> None:
    """Build the request's finished spans (nothing when it is not sampled: ``ctx.trace`` is the
    observe step's decision, or decided here for a context that skipped it); the batch
    processor exports them."""
    decision = ctx.trace if ctx.trace is not None else tracing.decide(ctx.traceparent)
    if decision is None:
        return
    trace_id, remote = decision
    end_ns = _ns(ctx, ctx.t0) + int(ctx.elapsed_ms() * 1e6)
    attrs = _request_attributes(ctx, status, provider_of.get(ctx.answered_by or "", ""))
    if capture_content:
        attrs["gen_ai.input.messages"] = redact(ctx.request.prompt_text()[:MAX_CONTENT], secrets)
        if ctx.response_text and ctx.request.kind != "embedding":  # vectors are not content to read
            attrs["gen_ai.output.messages"] = redact(ctx.response_text[:MAX_CONTENT], secrets)
    error = (ctx.error_class or str(status)) if status >= 400 else None
    op = OPERATIONS.get(ctx.request.kind, "chat")
    root = tracing.emit(
        f"{op} {ctx.requested_model or ctx.request.model}",
        trace_id,
        remote,
        _ns(ctx, ctx.t0),
        end_ns,
        attrs,
        kind=SpanKind.SERVER,
        error=error,
    )
    cursor = ctx.t0
    for s in ctx.spans or ():
        tracing.emit(s.name, trace_id, root, _ns(ctx, s.start), _ns(ctx, s.end), s.attributes or {})
        cursor = max(cursor, s.end)
    _attempt_spans(tracing, ctx, trace_id, root, _ns(ctx, cursor), end_ns, provider_of)


def _attempt_spans(
    tracing: Tracing,
    ctx: RequestContext,
    trace_id: int,
    root: SpanContext,
    start_ns: int,
    end_ns: int,
    provider_of: Mapping[str, str],
) -> None:
    """One CLIENT span per upstream attempt, laid end to end from ``start_ns``."""
    op = OPERATIONS.get(ctx.request.kind, "chat")
    for i, a in enumerate(ctx.attempts):
        stop_ns = min(start_ns + int(a.latency_ms * 1e6), end_ns)
        attrs: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": op,
            "gen_ai.request.model": a.model,
            "gen_ai.provider.name": provider_of.get(a.deployment, ""),
            "faregate.deployment": a.deployment,
            "faregate.attempt": i + 1,
            "faregate.outcome": a.status,
            "faregate.cost_usd": a.cost_usd,
        }
        if a.usage is not None:
            attrs["gen_ai.usage.input_tokens"] = a.usage.input_tokens
            attrs["gen_ai.usage.output_tokens"] = a.usage.output_tokens
        error = None
        if a.status != "ok":
            attrs["error.type"] = error = a.status
        tracing.emit(f"{op} {a.model}", trace_id, root, start_ns, stop_ns, attrs, kind=SpanKind.CLIENT, error=error)
        start_ns = stop_ns
