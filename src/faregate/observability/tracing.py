"""OpenTelemetry traces: finished spans exported over OTLP/HTTP (protobuf), in batches.

A request's spans are built after the fact, when it has finished, from what it recorded, so
tracing adds nothing while it runs; and not even then on the request's thread: ``submit``
queues the finished request (a builder closure) on the SDK's ``BatchSpanProcessor``, and its
export thread builds the spans' attributes and the SDK's finished-span type
(``ReadableSpan``), a batch at a time, before it encodes and sends them (``otlp_export.OtlpHttpExporter``: the OTLP protobuf bytes written
directly, a few times cheaper than the SDK exporter's message objects). The SDK's live-span path (a ``Span`` object per
span, its locks, its attribute cleaning and copying, a sampler call per span) is skipped, since
a span here is never live and its attributes are already bounded primitives.

Sampling is decided once per request, before any span work (``decide``): a client's W3C
``traceparent`` wins (its trace continues, sampled or not, as ``ParentBased`` would); a new
trace is kept when its trace id falls under ``sample_ratio`` (the ``TraceIdRatioBased`` rule:
the low 64 bits of the id against ``ratio * 2**64``), so a collector's ratio sampler agrees.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..config import TracingConfig
from .otlp_export import OtlpHttpExporter

_PROPAGATOR = TraceContextTextMapPropagator()
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_ID_LOW = (1 << 64) - 1
log = logging.getLogger("faregate.tracing")

AttributeValue = str | int | float | bool
SpanBuilder = Callable[[], Sequence[ReadableSpan]]


class _Pending:
    """A finished request queued for the export thread: ``build`` makes its spans. The batch
    processor only reads ``context`` (sampled, or it drops the item)."""

    __slots__ = ("build",)
    context = SpanContext(1, 1, False, _SAMPLED)

    def __init__(self, build: SpanBuilder) -> None:
        self.build = build


class _Expand(SpanExporter):
    """The export thread's side of ``Tracing.submit``: a batch's pending requests become their
    spans, then the batch goes to the real exporter (which sees ``ReadableSpan`` only)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        out: list[ReadableSpan] = []
        for item in spans:
            if not isinstance(item, _Pending):
                out.append(item)
                continue
            try:
                out.extend(item.build())
            except Exception:  # one request's bad data must not lose the batch
                log.exception("building a request's spans failed; its trace is dropped")
        return self.inner.export(out) if out else SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    """The gateway's span pipeline: a batch processor over an OTLP exporter (its own, not the
    process-global tracer provider's)."""

    def __init__(self, cfg: TracingConfig, exporter: SpanExporter | None = None, *, max_queue_size: int = 8192) -> None:
        self.cfg = cfg
        self.resource = Resource.create({"service.name": cfg.service_name})
        self.scope = InstrumentationScope("faregate")
        exp = exporter or OtlpHttpExporter(cfg.otlp_endpoint, timeout_s=cfg.export_timeout_s)
        # 8192 queued items (a request, or a span from ``emit``): seconds of a busy replica while
        # a send is slow. 128 requests a batch: about 500 spans an export.
        self.processor = BatchSpanProcessor(
            _Expand(exp), schedule_delay_millis=1000, max_queue_size=max_queue_size, max_export_batch_size=128
        )
        self._bound = round(cfg.sample_ratio * (_ID_LOW + 1))  # TraceIdRatioBased's bound

    @staticmethod
    def parent(traceparent: str | None) -> SpanContext | None:
        """The remote parent named by a W3C ``traceparent`` header (None when absent or malformed)."""
        if not traceparent:
            return None
        ctx = _PROPAGATOR.extract({"traceparent": traceparent})
        sc = trace.get_current_span(ctx).get_span_context()
        return sc if sc.is_valid else None

    def decide(self, traceparent: str | None) -> tuple[int, SpanContext | None] | None:
        """(trace id, remote parent) when this request is traced; None when it is not sampled."""
        parent = self.parent(traceparent)
        if parent is not None:
            return (parent.trace_id, parent) if parent.trace_flags.sampled else None
        trace_id = random.getrandbits(128) or 1
        return (trace_id, None) if (trace_id & _ID_LOW) < self._bound else None

    def submit(self, build: SpanBuilder) -> None:
        """Queue a finished request; the export thread calls ``build`` for its spans (made with
        ``span``). ``build`` must read only what no longer changes."""
        self.processor.on_end(_Pending(build))  # type: ignore[arg-type]

    def span(
        self,
        name: str,
        trace_id: int,
        parent: SpanContext | None,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, AttributeValue],
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        error: str | None = None,
    ) -> ReadableSpan:
        """One finished span (its ``context`` is the parent of its children). ``attributes`` is
        kept as given (not copied): build a fresh mapping per span."""
        sc = SpanContext(trace_id, random.getrandbits(64) or 1, False, _SAMPLED)
        status = _UNSET if error is None else Status(StatusCode.ERROR, error)
        return ReadableSpan(
            name,
            sc,
            parent,
            self.resource,
            attributes,
            kind=kind,
            status=status,
            start_time=start_ns,
            end_time=end_ns,
            instrumentation_scope=self.scope,
        )

    def emit(
        self,
        name: str,
        trace_id: int,
        parent: SpanContext | None,
        start_ns: int,
        end_ns: int,
        attributes: Mapping[str, AttributeValue],
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        error: str | None = None,
    ) -> SpanContext:
        """Queue one finished span, built now; returns its context."""
        span = self.span(name, trace_id, parent, start_ns, end_ns, attributes, kind=kind, error=error)
        self.processor.on_end(span)
        assert span.context is not None
        return span.context

    def flush(self, timeout_ms: int = 5000) -> bool:
        return self.processor.force_flush(timeout_ms)

    def close(self) -> None:
        self.processor.shutdown()
