"""A sampled request's spans are built by the export thread, not the request's: the request
only queues itself (``Tracing.submit``). What the spans say is what the request recorded when
it finished (a later change to its attempts is not seen), and one request whose spans cannot
be built loses only its own trace, not the batch."""

from __future__ import annotations

import threading
import time

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from faregate.config import TracingConfig
from faregate.core.types import ChatRequest
from faregate.core.usage import Usage
from faregate.observability.tracing import Tracing
from faregate.pipeline import observe_trace
from faregate.pipeline.context import Attempt, Principal, RequestContext


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list = []
        self.threads: set[int] = set()

    def export(self, spans):
        self.threads.add(threading.get_ident())
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _ctx(model: str) -> RequestContext:
    ctx = RequestContext(request=ChatRequest(model=model, messages=[{"role": "user", "content": "hi sk-secret"}]),
                         principal=Principal(key_id="k1", name="t"))  # fmt: skip
    ctx.requested_model = ctx.answered_model = model
    ctx.answered_by = model + "#0"
    ctx.attempts = [Attempt(model + "#0", model, "ok", usage=Usage(20, 8), cost_usd=1e-5, latency_ms=3.0)]
    ctx.usage, ctx.cost_usd = Usage(20, 8), 1e-5
    return ctx


def test_spans_are_built_on_the_export_thread(monkeypatch):
    built_on: list[int] = []
    real = observe_trace._request_attributes

    def spy(*args):
        built_on.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(observe_trace, "_request_attributes", spy)
    keep = _Keep()
    tr = Tracing(TracingConfig(enabled=True), exporter=keep)
    try:
        ctx = _ctx("a")
        observe_trace.export_trace(
            tr, ctx, 200, {"a#0": "openai"}, capture_content=True, secrets=frozenset({"sk-secret"})
        )
        assert built_on == []  # nothing built on the request's thread
        ctx.attempts.append(Attempt("late#0", "late", "ok", latency_ms=1.0))  # after the end: not in its trace
        deadline = time.monotonic() + 30  # the export thread wakes every second
        while not keep.spans and time.monotonic() < deadline:
            time.sleep(0.05)
        me = threading.get_ident()
        assert len(built_on) == 1 and built_on[0] != me and keep.threads == {built_on[0]}
        names = [s.name for s in keep.spans]
        assert names == ["chat a", "chat a"]  # the request span and its one attempt
        root = keep.spans[0]
        assert root.attributes["gen_ai.provider.name"] == "openai"
        assert root.attributes["faregate.attempts"] == 1
        assert "sk-secret" not in root.attributes["gen_ai.input.messages"]  # redacted, there too
        assert keep.spans[1].parent.span_id == root.context.span_id
    finally:
        tr.close()


def test_a_request_whose_spans_fail_loses_only_its_own_trace(monkeypatch):
    keep = _Keep()
    tr = Tracing(TracingConfig(enabled=True), exporter=keep)
    try:
        bad = _ctx("b")
        bad.attempts = [object()]  # type: ignore[list-item]  # no latency_ms: building its spans raises
        for ctx in (_ctx("a"), bad, _ctx("c")):
            observe_trace.export_trace(tr, ctx, 200, {})
        assert tr.flush()
        assert sorted(s.name for s in keep.spans) == ["chat a", "chat a", "chat c", "chat c"]
    finally:
        tr.close()
