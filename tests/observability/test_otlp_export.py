"""The OTLP exporter's own protobuf encoding: the very message the SDK's encoder builds, for
every kind of span the gateway makes (server, internal, client; error statuses; a remote
parent; strings, booleans, ints, floats, negative and large ints, long and non-ASCII values)."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind
from tests.helpers import free_port

from faregate.config import TracingConfig
from faregate.observability.otlp_export import OtlpHttpExporter, SpanEncoder
from faregate.observability.tracing import Tracing


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _spans() -> list:
    keep = _Keep()
    tr = Tracing(TracingConfig(enabled=True), exporter=keep)
    remote = Tracing.parent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    assert remote is not None
    for i, parent in enumerate((None, remote)):
        decision = tr.decide(None)
        assert decision is not None  # ratio 1.0
        trace_id = decision[0] if parent is None else parent.trace_id
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 20 + i,
            "faregate.cost_usd": 1.25e-5,
            "faregate.fallback": bool(i),
            "faregate.attempt": 1,  # an int equal to True: must not share its encoding
            "big": 2**40,
            "negative": -3,
            "text": "é" * 200,  # a length over 127 bytes
        }
        root = tr.emit("chat m", trace_id, parent, 1_000, 9_000, attrs, kind=SpanKind.SERVER, error="boom" * i or None)
        tr.emit("limits.check", trace_id, root, 1_100, 1_200, {"allowed": True})
        tr.emit(
            "chat m", trace_id, root, 1_200, 8_000, {"faregate.outcome": "transient"}, kind=SpanKind.CLIENT, error="x"
        )
    assert tr.flush()
    return keep.spans


def test_encoding_matches_the_sdk_encoder_message_for_message():
    spans = _spans()
    assert len(spans) == 6
    enc = SpanEncoder()
    for _ in range(2):  # the second time from the memo
        mine = ExportTraceServiceRequest.FromString(enc.encode(spans))
        assert mine == encode_spans(spans)
    s = mine.resource_spans[0].scope_spans[0].spans
    assert s[0].status.code == 0 and s[3].status.code == 2 and s[3].status.message == "boom"
    assert s[3].parent_span_id.hex() == "00f067aa0ba902b7"
    attrs = {kv.key: kv.value for kv in s[0].attributes}
    assert attrs["faregate.attempt"].int_value == 1 and attrs["faregate.fallback"].bool_value is False
    assert attrs["negative"].int_value == -3 and attrs["big"].int_value == 2**40


def test_an_unreachable_collector_is_retried_then_reported():
    exp = OtlpHttpExporter(f"http://127.0.0.1:{free_port()}/v1/traces", timeout_s=1, retries=1, backoff_s=0.01)
    assert exp.export(_spans()) is SpanExportResult.FAILURE
    assert exp.export([]) is SpanExportResult.SUCCESS
