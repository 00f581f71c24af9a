"""One finished request as an OpenTelemetry trace (GenAI semantic conventions + ``faregate.*``).

The request span (kind SERVER, named ``<operation> <requested model>``: ``chat``, ``embeddings``
or ``text_completion`` by the request's kind, child of the client's
``traceparent`` when it sent one) has a child per timed step (``ctx.spans``: ``limits.check``,
``routing``, ``cache.lookup`` from a cache step...) and a child per upstream attempt (kind
CLIENT). The executor records each attempt's duration, not its start: attempts are laid
end to end after the last step span, in call order. Prompt and answer go on the request span
only with ``tracing.capture_content: true``, redacted (``core.redact``).

On the request's thread ``export_trace`` only takes the end time and queues the request
(``Tracing.submit``); the attributes, the redaction and the spans are built by the export
thread (``_Spans.build``), which reads the context once the request is over and it no longer
changes (the attempt and step lists are copied at the end, in case a late hedge appends).
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

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
    """Queue the request's trace (nothing when it is not sampled: ``ctx.trace`` is the observe
    step's decision, or decided here for a context that skipped it); the export thread builds
    its spans."""
    decision = ctx.trace if ctx.trace is not None else tracing.decide(ctx.traceparent)
    if decision is None:
        return
    end_ns = _ns(ctx, ctx.t0) + int(ctx.elapsed_ms() * 1e6)
    spans = _Spans(tracing, ctx, status, provider_of, decision, end_ns, capture_content, secrets)
    tracing.submit(spans.build)


class _Spans:
    """One finished request's spans, built on demand (by the export thread)."""

    __slots__ = (
        "tracing",
        "ctx",
        "status",
        "provider_of",
        "decision",
        "end_ns",
        "content",
        "secrets",
        "steps",
        "attempts",
    )

    def __init__(
        self,
        tracing: Tracing,
        ctx: RequestContext,
        status: int,
        provider_of: Mapping[str, str],
        decision: tuple,
        end_ns: int,
        content: bool,
        secrets: frozenset[str],
    ) -> None:
        self.tracing, self.ctx, self.status, self.provider_of = tracing, ctx, status, provider_of
        self.decision, self.end_ns, self.content, self.secrets = decision, end_ns, content, secrets
        self.steps, self.attempts = tuple(ctx.spans or ()), tuple(ctx.attempts)

    def build(self) -> list[ReadableSpan]:
        tracing, ctx, status, end_ns = self.tracing, self.ctx, self.status, self.end_ns
        trace_id, remote = self.decision
        attrs = _request_attributes(ctx, status, self.provider_of.get(ctx.answered_by or "", ""))
        attrs["faregate.attempts"] = len(self.attempts)
        if self.content:
            attrs["gen_ai.input.messages"] = redact(ctx.request.prompt_text()[:MAX_CONTENT], self.secrets)
            if ctx.response_text and ctx.request.kind != "embedding":  # vectors are not content to read
                attrs["gen_ai.output.messages"] = redact(ctx.response_text[:MAX_CONTENT], self.secrets)
        error = (ctx.error_class or str(status)) if status >= 400 else None
        op = OPERATIONS.get(ctx.request.kind, "chat")
        root = tracing.span(
            f"{op} {ctx.requested_model or ctx.request.model}",
            trace_id,
            remote,
            _ns(ctx, ctx.t0),
            end_ns,
            attrs,
            kind=SpanKind.SERVER,
            error=error,
        )
        out = [root]
        cursor = ctx.t0
        for s in self.steps:
            out.append(
                tracing.span(s.name, trace_id, root.context, _ns(ctx, s.start), _ns(ctx, s.end), s.attributes or {})
            )
            cursor = max(cursor, s.end)
        self._attempt_spans(out, _ns(ctx, cursor))
        return out

    def _attempt_spans(self, out: list[ReadableSpan], start_ns: int) -> None:
        """One CLIENT span per upstream attempt, laid end to end from ``start_ns``."""
        tracing, provider_of, root = self.tracing, self.provider_of, out[0].context
        trace_id = self.decision[0]
        op = OPERATIONS.get(self.ctx.request.kind, "chat")
        for i, a in enumerate(self.attempts):
            stop_ns = min(start_ns + int(a.latency_ms * 1e6), self.end_ns)
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
            span = tracing.span(
                f"{op} {a.model}", trace_id, root, start_ns, stop_ns, attrs, kind=SpanKind.CLIENT, error=error
            )
            out.append(span)
            start_ns = stop_ns
