"""A stand-in for ``faregate.testing.FakeProvider`` with the same control API, used by the
reliability tests only while the package's fake providers are not there yet.

OpenAI and Anthropic wire; ``POST /_fake/script`` (a list of behaviours, one per request),
``GET /_fake/requests`` (with ``disconnected`` for clients that went away), ``POST /_fake/reset``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web


class StandinFake:
    def __init__(self, protocol: str = "openai", port: int = 0, host: str = "127.0.0.1") -> None:
        self.protocol = protocol
        self.host, self.port = host, port
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/_fake/script", self._script)
        app.router.add_get("/_fake/requests", self._requests)
        app.router.add_post("/_fake/reset", self._reset)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages", self._chat)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> "StandinFake":
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _script(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.script.extend(data if isinstance(data, list) else [data])
        return web.json_response({"queued": len(self.script)})

    async def _requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})

    async def _reset(self, request: web.Request) -> web.Response:
        self.script.clear()
        self.requests.clear()
        return web.json_response({"ok": True})

    # -- answers ---------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        rec = {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body,
               "disconnected": False, "at": time.time()}
        self.requests.append(rec)
        b = self.script.pop(0) if self.script else {}
        try:
            return await self._answer(request, body, b)
        except (asyncio.CancelledError, ConnectionResetError):
            rec["disconnected"] = True
            raise

    def _error_body(self, status: int) -> dict:
        msg = {400: "Invalid value for 'messages': bad request", 429: "Rate limit reached",
               529: "Overloaded"}.get(status, f"The server had an error ({status})")
        if self.protocol == "anthropic":
            etype = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                     529: "overloaded_error"}.get(status, "api_error")
            return {"type": "error", "error": {"type": etype, "message": msg}}
        return {"error": {"message": msg, "type": "server_error", "param": None, "code": None}}

    async def _answer(self, request: web.Request, body: dict, b: dict) -> web.StreamResponse:
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        status = b.get("status", 200)
        if status >= 400:
            headers = {"retry-after": str(b["retry_after_s"])} if b.get("retry_after_s") is not None else {}
            return web.Response(body=orjson.dumps(self._error_body(status)), status=status, headers=headers,
                                content_type="application/json")
        text = b.get("text", "Hello from the fake provider.")
        n = max(1, int(b.get("chunks", 3)))
        step = -(-len(text) // n)
        pieces = [text[i:i + step] for i in range(0, len(text), step)] or [""]
        u = b.get("usage") or {"input_tokens": 12, "output_tokens": 8}
        stream = bool(body.get("stream"))
        ctype = b.get("content_type")
        if not stream:
            if b.get("ttft_ms"):
                await asyncio.sleep(b["ttft_ms"] / 1000)
            if b.get("error_event_after_200"):
                payload = self._error_body(500)
            elif self.protocol == "anthropic":
                payload = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                           "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                           "usage": {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"]}}
            else:
                payload = {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                           "model": body.get("model"), "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": text}}],
                           "usage": {"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"],
                                     "total_tokens": u["input_tokens"] + u["output_tokens"]}}
            raw = b"{not json" if b.get("malformed_json") else orjson.dumps(payload)
            if b.get("cut_after_chunks") is not None or b.get("stall_after_chunks") is not None:
                resp = web.StreamResponse(headers={"content-type": ctype or "application/json",
                                                   "content-length": str(len(raw))})
                await resp.prepare(request)
                await resp.write(raw[: len(raw) // 2])
                if b.get("stall_after_chunks") is not None:
                    await asyncio.sleep(3600)
                request.transport.close()
                return resp
            return web.Response(body=raw, content_type=None, headers={"content-type": ctype or "application/json"})
        resp = web.StreamResponse(headers={"content-type": ctype or "text/event-stream"})
        await resp.prepare(request)
        events = self._stream_events(body, pieces, u)
        head, content, tail = events
        if b.get("malformed_sse"):
            await resp.write(b"data: {this is not json\n\n")
        for e in head:
            await resp.write(e)
        if b.get("error_event_after_200"):
            await resp.write(self._stream_error())
            return resp
        if b.get("ttft_ms"):
            await asyncio.sleep(b["ttft_ms"] / 1000)
        for i, e in enumerate(content):
            if b.get("cut_after_chunks") == i:
                request.transport.close()
                return resp
            if b.get("stall_after_chunks") == i:
                await asyncio.sleep(3600)
            if i and b.get("chunk_gap_ms"):
                await asyncio.sleep(b["chunk_gap_ms"] / 1000)
            await resp.write(e)
        for e in tail:
            await resp.write(e)
        return resp

    def _stream_error(self) -> bytes:
        if self.protocol == "anthropic":
            return b"event: error\ndata: " + orjson.dumps(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}) + b"\n\n"
        return b"data: " + orjson.dumps({"error": {"message": "The server had an error", "type": "server_error"}}) \
            + b"\n\n"

    def _stream_events(self, body: dict, pieces: list[str], u: dict) -> tuple[list[bytes], list[bytes], list[bytes]]:
        if self.protocol == "anthropic":
            def ev(name: str, data: dict) -> bytes:
                return f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"
            head = [ev("message_start", {"type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"), "content": [],
                "stop_reason": None, "usage": {"input_tokens": u["input_tokens"], "output_tokens": 1}}}),
                ev("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})]
            content = [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                  "delta": {"type": "text_delta", "text": p}}) for p in pieces]
            tail = [ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                         "usage": {"output_tokens": u["output_tokens"]}}),
                    ev("message_stop", {"type": "message_stop"})]
            return head, content, tail

        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
            c: dict[str, Any] = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1,
                                 "model": body.get("model"),
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if delta is not None
                                 else []}
            if usage:
                c["usage"] = usage
            return b"data: " + orjson.dumps(c) + b"\n\n"
        head = [chunk({"role": "assistant", "content": ""})]
        content = [chunk({"content": p}) for p in pieces]
        tail = [chunk({}, "stop"), chunk(None, usage={"prompt_tokens": u["input_tokens"],
                                                      "completion_tokens": u["output_tokens"],
                                                      "total_tokens": u["input_tokens"] + u["output_tokens"]}),
                b"data: [DONE]\n\n"]
        return head, content, tail
