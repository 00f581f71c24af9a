"""An OTLP/HTTP span exporter whose protobuf encoding costs a few microseconds a span.

The SDK's exporter builds a protobuf message object per span, attribute and value, then
serialises them: about 50-100 us a span in CPython, which at 100% sampling cost more than the
proxied request itself. This one writes the same ``ExportTraceServiceRequest`` bytes directly
(the protobuf wire format of ``opentelemetry/proto/trace/v1/trace.proto``), memoising the
encoded ``KeyValue`` of the repeated string and boolean attributes (model, provider,
deployment, outcome...) and the resource and scope once. Spans with events or links (faregate
makes none) go through the SDK's encoder. The bytes are POSTed as ``application/x-protobuf``
with the SDK exporter's retry rule (429, 502, 503, 504 and connection errors, backed off).
Tests decode them with the official ``opentelemetry-proto`` classes.
"""

from __future__ import annotations

import logging
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

log = logging.getLogger("faregate.tracing")

RETRY_STATUS = frozenset({429, 502, 503, 504})
_PACK_D = struct.Struct("<d").pack
_PACK_Q = struct.Struct("<Q").pack
# Field 16 (flags, fixed32): the parent's is-remote bit is known (0x100), and set (0x200).
_FLAGS_LOCAL = b"\x85\x01" + (0x100).to_bytes(4, "little")
_FLAGS_REMOTE = b"\x85\x01" + (0x300).to_bytes(4, "little")


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key_value(key: str, v: object) -> bytes:
    return _len(0x0A, key.encode()) + _len(0x12, _any_value(v))


def _len(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (``tag`` = field number << 3 | 2, below 128)."""
    n = len(payload)
    if n < 0x80:
        return bytes((tag, n)) + payload
    return bytes((tag,)) + _varint(n) + payload


def _any_value(v: object) -> bytes:
    if isinstance(v, bool):
        return b"\x10\x01" if v else b"\x10\x00"
    if isinstance(v, int):
        return b"\x18" + _varint(v & 0xFFFFFFFFFFFFFFFF)  # int64: two's complement
    if isinstance(v, float):
        return b"\x21" + _PACK_D(v)
    return _len(0x0A, str(v).encode())


class SpanEncoder:
    """ReadableSpans -> ``ExportTraceServiceRequest`` bytes, one resource and scope per batch."""

    MEMO_MAX = 20_000

    def __init__(self) -> None:
        self._memo: dict[tuple[str, object], bytes] = {}
        self._ints: dict[tuple[str, object], bytes] = {}
        self._names: dict[tuple[str, object], bytes] = {}
        self._tid, self._tid_field = 0, b""
        self._keys: dict[str, bytes] = {}
        self._heads: dict[tuple[int, int], tuple[bytes, bytes]] = {}

    def _kv(self, key: str, v: object) -> bytes:
        """One span attribute (field 9 of Span: a ``KeyValue``), memoised but for floats."""
        if isinstance(v, float):
            k = self._keys.get(key)
            if k is None:
                k = self._keys[key] = _len(0x0A, key.encode())
            return _len(0x4A, k + b"\x12\x09\x21" + _PACK_D(v))
        # bool and int apart: True == 1 would share an entry.
        memo = self._memo if isinstance(v, str | bool) else self._ints
        hit = memo.get((key, v))
        if hit is None:
            if len(memo) >= self.MEMO_MAX:
                memo.clear()
            hit = memo[(key, v)] = _len(0x4A, _key_value(key, v))
        return hit

    def span(self, s: ReadableSpan) -> bytes:
        sc, p = s.context, s.parent
        assert sc is not None
        if sc.trace_id != self._tid:  # a request's spans share one trace id, and come together
            self._tid, self._tid_field = sc.trace_id, b"\x0a\x10" + sc.trace_id.to_bytes(16, "big")
        head = self._tid_field + b"\x12\x08" + sc.span_id.to_bytes(8, "big")
        if sc.trace_state:
            head += _len(0x1A, sc.trace_state.to_header().encode())
        if p is not None:
            head += b"\x22\x08" + p.span_id.to_bytes(8, "big")
        name = self._names.get((s.name, s.kind))
        if name is None:
            if len(self._names) >= self.MEMO_MAX:
                self._names.clear()
            name = self._names[(s.name, s.kind)] = _len(0x2A, s.name.encode()) + bytes((0x30, s.kind.value + 1))
        kv = self._kv
        attrs = b"".join([kv(k, v) for k, v in (s.attributes or {}).items()])
        if s.dropped_attributes:
            attrs += b"\x50" + _varint(s.dropped_attributes)
        st = s.status
        if st.status_code.value:
            msg = _len(0x12, st.description.encode()) if st.description else b""
            status = _len(0x7A, msg + bytes((0x18, st.status_code.value)))
        else:
            status = b"\x7a\x00"  # an empty status, as the SDK's encoder writes it
        flags = _FLAGS_REMOTE if p is not None and p.is_remote else _FLAGS_LOCAL
        times = b"\x39" + _PACK_Q(s.start_time or 0) + b"\x41" + _PACK_Q(s.end_time or 0)
        return _len(0x12, b"".join((head, name, times, attrs, status, flags)))

    def _head(self, s: ReadableSpan) -> tuple[bytes, bytes]:
        """The encoded ``resource`` field of ResourceSpans and ``scope`` field of ScopeSpans."""
        key = (id(s.resource), id(s.instrumentation_scope))
        head = self._heads.get(key)
        if head is None:
            res = b"".join(_len(0x0A, _key_value(k, v)) for k, v in s.resource.attributes.items())
            scope = s.instrumentation_scope
            sc = b"" if scope is None else _len(0x0A, scope.name.encode()) + _len(0x12, (scope.version or "").encode())
            head = self._heads[key] = (_len(0x0A, res), _len(0x0A, sc))
        return head

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        if any(s.events or s.links for s in spans):
            return bytes(encode_spans(spans).SerializePartialToString())
        groups: dict[tuple[bytes, bytes], list[bytes]] = {}
        for s in spans:
            groups.setdefault(self._head(s), []).append(self.span(s))
        return b"".join(
            _len(0x0A, resource + _len(0x12, scope + b"".join(encoded)))
            for (resource, scope), encoded in groups.items()
        )


class OtlpHttpExporter(SpanExporter):
    """POST each batch to ``endpoint`` (``.../v1/traces``); retried like the SDK's exporter."""

    def __init__(self, endpoint: str, timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.5) -> None:
        self.endpoint, self.timeout_s, self.retries, self.backoff_s = endpoint, timeout_s, retries, backoff_s
        self.encoder = SpanEncoder()
        self._shutdown = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown or not spans:
            return SpanExportResult.FAILURE if self._shutdown else SpanExportResult.SUCCESS
        body = self.encoder.encode(spans)
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(
                self.endpoint, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read()
                return SpanExportResult.SUCCESS
            except urllib.error.HTTPError as err:
                if err.code not in RETRY_STATUS:
                    log.warning("trace export refused by %s: HTTP %d", self.endpoint, err.code)
                    return SpanExportResult.FAILURE
                why = f"HTTP {err.code}"
            except OSError as err:
                why = str(err)
            if attempt < self.retries and not self._shutdown:
                time.sleep(self.backoff_s * 2**attempt)
        log.warning("trace export to %s failed (%s); %d spans dropped", self.endpoint, why, len(spans))
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._shutdown = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
