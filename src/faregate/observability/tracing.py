"""OpenTelemetry traces: a tracer provider exporting over OTLP/HTTP (protobuf), in batches.

Spans are created after the fact with explicit timestamps (``start_time``/``end_time`` in
epoch nanoseconds), from what the request recorded, so tracing adds nothing to a request
while it runs; the batch processor exports from its own thread. A client's W3C
``traceparent`` becomes the parent of the request span; with ``sample_ratio`` < 1 a new
trace is sampled by its trace id, and a parent's sampling decision wins.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..config import TracingConfig

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """The gateway's tracer provider (its own, not the process-global one)."""

    def __init__(self, cfg: TracingConfig, exporter: SpanExporter | None = None) -> None:
        self.cfg = cfg
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": cfg.service_name}),
            sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)),
        )
        exp = exporter or OTLPSpanExporter(endpoint=cfg.otlp_endpoint, timeout=cfg.export_timeout_s)
        self.provider.add_span_processor(BatchSpanProcessor(exp, schedule_delay_millis=1000))
        self.tracer = self.provider.get_tracer("faregate")

    @staticmethod
    def parent(traceparent: str | None) -> Context | None:
        """The remote parent named by a W3C ``traceparent`` header (None when absent or malformed)."""
        if not traceparent:
            return None
        ctx = _PROPAGATOR.extract({"traceparent": traceparent})
        span = trace.get_current_span(ctx)
        return ctx if span.get_span_context().is_valid else None

    def start_span(
        self, name: str, start_ns: int, *, parent: Context | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL
    ) -> Any:
        return self.tracer.start_span(name, context=parent, kind=kind, start_time=start_ns)

    def flush(self, timeout_ms: int = 5000) -> bool:
        return self.provider.force_flush(timeout_ms)

    def close(self) -> None:
        self.provider.shutdown()


def child_context(span: Any) -> Context:
    """A context whose current span is ``span``: the parent of its children."""
    return trace.set_span_in_context(span)
