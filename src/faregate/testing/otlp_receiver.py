"""A small OTLP/HTTP traces receiver on loopback, for tests and benchmarks.

    async with OtlpReceiver() as rx:          # rx.endpoint: http://127.0.0.1:<port>/v1/traces
        ...                                    # point tracing.otlp_endpoint at it
        spans = await rx.wait_for(3)           # decoded spans (dicts), in arrival order

It decodes each ``ExportTraceServiceRequest`` (protobuf, optionally gzip) with the official
``opentelemetry-proto`` classes and keeps every span as a plain dict: name, ids in hex, kind,
times, attributes, status, and the resource's attributes.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .loopback import LoopbackServer

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def decode(body: bytes) -> list[dict[str, Any]]:
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        resource = _attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    {
                        "name": s.name,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex() or None,
                        "kind": KINDS.get(s.kind, str(s.kind)),
                        "start_ns": s.start_time_unix_nano,
                        "end_ns": s.end_time_unix_nano,
                        "attributes": _attrs(s.attributes),
                        "status": s.status.code,  # 0 unset, 1 ok, 2 error
                        "resource": resource,
                    }
                )
    return out


class OtlpReceiver(LoopbackServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_post("/v1/traces", self._traces)
        self.spans: list[dict[str, Any]] = []
        self.requests = 0
        self._arrived = asyncio.Event()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/v1/traces"

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        self.spans += decode(body)
        self.requests += 1
        self._arrived.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` spans arrived; returns them all."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.spans) < n:
            self._arrived.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"{len(self.spans)} span(s) arrived, expected {n}")
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                pass
        return self.spans


def main() -> None:
    """``python -m faregate.testing.otlp_receiver --port 4318``: print each span received."""
    import argparse

    ap = argparse.ArgumentParser(description="print the spans of OTLP/HTTP trace exports")
    ap.add_argument("--port", type=int, default=4318)
    a = ap.parse_args()

    async def run() -> None:
        rx = await OtlpReceiver(port=a.port).start()
        seen = 0
        while True:
            await rx.wait_for(seen + 1, timeout=3600)
            for s in rx.spans[seen:]:
                attrs = {k: v for k, v in s["attributes"].items() if k.startswith("gen_ai.")}
                print(f"{s['trace_id'][:8]} {s['kind']:<8} {s['name']} {attrs}", flush=True)
            seen = len(rx.spans)

    asyncio.run(run())


if __name__ == "__main__":
    main()
