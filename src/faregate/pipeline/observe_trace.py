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

from opentelemetry.trace import SpanKind, Status, StatusCode

from ..core.redact import redact
from ..observability.tracing import Tracing, child_context
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
    """Create (and end) the request's spans; the batch processor exports them."""
    end_ns = _ns(ctx, ctx.t0) + int(ctx.elapsed_ms() * 1e6)
    provider = provider_of.get(ctx.answered_by or "", "")
    op = OPERATIONS.get(ctx.request.kind, "chat")
    name = f"{op} {ctx.requested_model or ctx.request.model}"
    root = tracing.start_span(name, _ns(ctx, ctx.t0), parent=Tracing.parent(ctx.traceparent), kind=SpanKind.SERVER)
    if not root.is_recording():
        return
    root.set_attributes(_request_attributes(ctx, status, provider))
    if capture_content:
        root.set_attribute("gen_ai.input.messages", redact(ctx.request.prompt_text()[:MAX_CONTENT], secrets))
        if ctx.response_text and ctx.request.kind != "embedding":  # vectors are not content to read
            root.set_attribute("gen_ai.output.messages", redact(ctx.response_text[:MAX_CONTENT], secrets))
    if status >= 400:
        root.set_status(Status(StatusCode.ERROR, ctx.error_class or str(status)))
    parent = child_context(root)
    cursor = ctx.t0
    for s in ctx.spans or ():
        span = tracing.start_span(s.name, _ns(ctx, s.start), parent=parent)
        if s.attributes:
            span.set_attributes(s.attributes)
        span.end(_ns(ctx, s.end))
        cursor = max(cursor, s.end)
    start_ns = _ns(ctx, cursor)
    for i, a in enumerate(ctx.attempts):
        stop_ns = min(start_ns + int(a.latency_ms * 1e6), end_ns)
        span = tracing.start_span(f"{op} {a.model}", start_ns, parent=parent, kind=SpanKind.CLIENT)
        span.set_attributes(
            {
                "gen_ai.operation.name": op,
                "gen_ai.request.model": a.model,
                "gen_ai.provider.name": provider_of.get(a.deployment, ""),
                "faregate.deployment": a.deployment,
                "faregate.attempt": i + 1,
                "faregate.outcome": a.status,
                "faregate.cost_usd": a.cost_usd,
            }
        )
        if a.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", a.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", a.usage.output_tokens)
        if a.status != "ok":
            span.set_attribute("error.type", a.status)
            span.set_status(Status(StatusCode.ERROR, a.status))
        span.end(stop_ns)
        start_ns = stop_ns
    root.end(end_ns)
