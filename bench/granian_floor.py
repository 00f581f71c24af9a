"""A Rust-backed floor: a minimal RSGI pass-through served by granian, pyreqwest as its client.

    FLOOR_UPSTREAM=http://127.0.0.1:9101/v1 granian --interface rsgi --port 8091 bench.granian_floor:app

The same job as ``bench/passthrough.py`` (read the body, forward it over one pooled keep-alive
client with the upstream key, copy the answer back, a stream chunk by chunk), with both the
server and the client in Rust: how high the ceiling is. faregate itself runs on granian with
``faregate serve --server granian`` (``server/rsgi.py``; docs/fast-http.md).
"""

from __future__ import annotations

import os
from typing import Any

HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}


class Floor:
    """RSGI app: ``POST /v1/chat/completions`` forwarded, ``GET /health`` answered."""

    def __init__(self, upstream: str, api_key: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.auth = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self.client: Any = None

    def __rsgi_init__(self, loop: Any) -> None:
        from pyreqwest.client import ClientBuilder

        self.client = ClientBuilder().pool_max_idle_per_host(1000).build()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.method == "GET":
            proto.response_bytes(200, [("content-type", "text/plain")], b"ok")
            return
        body = await proto()
        req = self.client.post(self.url).headers(self.auth).body_bytes(body).streamed_read_buffer_limit(0)
        async with req.build_streamed() as up:
            ctype = up.headers.get("content-type") or ""
            if "text/event-stream" in ctype:
                out = proto.response_stream(up.status, [("content-type", ctype)])
                reader = up.body_reader
                while (chunk := await reader.read_chunk()) is not None:
                    await out.send_bytes(bytes(chunk))
                return
            data = bytes(await up.bytes())
        proto.response_bytes(up.status, [("content-type", "application/json")], data)


app = Floor(os.environ.get("FLOOR_UPSTREAM", "http://127.0.0.1:9101/v1"), os.environ.get("FLOOR_KEY", "fake-key"))
