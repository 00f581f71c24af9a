"""The observe step's cost per finished request, in process: metrics, tracing, the access log.

    python bench/bench_observe.py [--requests 20000] [--rounds 6]

Builds one finished request context (two attempts, usage, cost, a plan-less named model) and
runs the observe step's finish hook on copies of it, with each feature alone and with all off
(the reference), in interleaved rounds (ABBA), on one core. Printed: microseconds per request
of each, median over rounds, and what that is against a proxied request's CPU cost (given by
``--request-us``, from ``bench_proxy.py``'s "CPU per request" of fg-bare). The ``tracing`` row
exports to an exporter that drops the spans: span creation and batching on the request's
thread. The two ``+encode`` rows also encode every span to OTLP protobuf bytes (what the batch
processor's thread does before sending; the timed loop waits for it): ``sdk-encode`` with the
SDK's encoder (``encode_spans``, what the SDK's OTLP exporter uses), ``fg-encode`` with
faregate's (``observability/otlp_export.py``). The send itself is counted by
``bench_proxy.py``'s fg-trace. ``on request`` is the added part spent in the hooks, on the
request's thread (the rest, building and encoding the spans, is the export thread's: it costs
CPU, not the request's latency).
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from faregate.config import GatewayConfig
from faregate.core.types import ChatRequest
from faregate.core.usage import Usage
from faregate.endpoints.deployments import DeploymentRegistry
from faregate.observability import access_log as access_module
from faregate.observability.otlp_export import SpanEncoder
from faregate.observability.tracing import Tracing
from faregate.pipeline.context import Attempt, Principal, RequestContext
from faregate.pipeline.observe_step import ObserveStep
from faregate.pipeline.services import Services


class _Drop(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class _Encode(SpanExporter):
    """Encodes each batch as the OTLP body (and drops it)."""

    def __init__(self, encode: Callable[[Sequence[Any]], bytes]) -> None:
        self.encode = encode

    def export(self, spans):
        self.encode(spans)
        return SpanExportResult.SUCCESS


def _sdk_encode(spans: Sequence[Any]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


CONFIG = {
    "models": [
        {"name": "a", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k", "fallbacks": ["b"]},
        {"name": "b", "provider": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "k"},
    ],
    "database_url": "",
    "learning": {"enabled": False},
}


def _ctx() -> RequestContext:
    req = ChatRequest(model="a", messages=[{"role": "user", "content": "hello there"}])
    ctx = RequestContext(request=req, principal=Principal(key_id="cfg_0123456789ab", name="bench"))
    ctx.requested_model = ctx.answered_model = "a"
    ctx.answered_by = "a#0"
    ctx.attempts = [
        Attempt("a#0", "a", "transient", latency_ms=2.0),
        Attempt("a#0", "a", "ok", usage=Usage(20, 8), cost_usd=1e-5, latency_ms=3.0),
    ]
    ctx.usage, ctx.cost_usd, ctx.ttft_ms = Usage(20, 8), 1e-5, 2.5
    ctx.record_span("limits.check", ctx.t0, ctx.t0 + 0.0001, allowed=True)
    return ctx


def _step(metrics: bool, tracing: SpanExporter | None, access: bool, ratio: float = 1.0) -> ObserveStep:
    cfg = GatewayConfig.model_validate(
        {
            **CONFIG,
            "metrics": {"enabled": metrics},
            "access_log": {"enabled": access},
            "tracing": {"sample_ratio": ratio},
        }
    )
    services = Services.build(cfg)
    if tracing is not None:
        # A queue big enough for a round: no span is dropped for a full queue while the loop runs.
        services.tracing = Tracing(cfg.tracing, exporter=tracing, max_queue_size=1_000_000)
    return ObserveStep(cfg, services, DeploymentRegistry(cfg.models))


def _time(step: ObserveStep, n: int) -> tuple[float, float]:
    """(us per request in all, us of it on the request's thread)."""
    ctxs = [_ctx() for _ in range(n)]
    t0 = time.perf_counter()
    tracing = step.tracing
    for c in ctxs:
        if tracing is not None:
            c.trace = tracing.decide(c.traceparent)  # what ObserveStep.handle does as the request enters
        step._hook(c)
    t1 = time.perf_counter()
    if step.tracing is not None:
        step.tracing.flush(60_000)  # the export thread's work belongs to these requests
    return (time.perf_counter() - t0) / n * 1e6, (t1 - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description="the observe step's cost per request")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--request-us", type=float, default=None, help="a proxied request's CPU us, for the share")
    a = ap.parse_args()
    # The JSON access log as `faregate serve --log-format json` sets it up (into a buffer here).
    access_module._SINK = access_module._Sink(io.StringIO(), "json")
    variants = {
        "all off": _step(False, None, False),
        "metrics": _step(True, None, False),
        "tracing": _step(False, _Drop(), False),
        "tracing+sdk-encode": _step(False, _Encode(_sdk_encode), False),
        "tracing+fg-encode": _step(False, _Encode(SpanEncoder().encode), False),
        "tracing 10%+fg-enc": _step(False, _Encode(SpanEncoder().encode), False, ratio=0.1),
        "metrics+json log": _step(True, None, True),
        "json log": _step(False, None, True),
        "all on": _step(True, _Encode(SpanEncoder().encode), True),
    }
    res: dict[str, list[float]] = {k: [] for k in variants}
    on_request: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for _ in range(2):  # warm up
        for k in names:
            _time(variants[k], 2000)
    for rnd in range(a.rounds):
        for k in names if rnd % 2 == 0 else names[::-1]:
            total, hook = _time(variants[k], a.requests)
            res[k].append(total)
            on_request[k].append(hook)
    base = statistics.median(res["all off"])
    print(f"{a.rounds} rounds x {a.requests} finished requests")
    hook_base = statistics.median(on_request["all off"])
    head = f"{'variant':<20}{'us/request':>12}{'added us':>10}{'on request':>12}"
    print(head + (f"{'of a request':>14}" if a.request_us else ""))
    for k in names:
        us = statistics.median(res[k])
        row = f"{k:<20}{us:>12.2f}{us - base:>10.2f}{statistics.median(on_request[k]) - hook_base:>12.2f}"
        if a.request_us:
            row += f"{(us - base) / a.request_us:>14.1%}"
        print(row)


if __name__ == "__main__":
    main()
