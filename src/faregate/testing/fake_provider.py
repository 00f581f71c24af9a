"""Fake LLM providers: real HTTP servers on loopback speaking the OpenAI, Anthropic or Gemini
protocol, scriptable per request. Used by the tests, the benchmarks and the demo.

    async with FakeProvider("anthropic") as fp:
        fp.base_url          # what a faregate model's base_url should be
        fp.script([{"status": 529}, {"text": "fine", "chunks": 3}])

Control API (the same on every protocol):

- ``POST /_fake/script``: a JSON list of behaviours for the next requests, one each, in order;
  when used up, the default answer. A behaviour may set ``status`` (answer with that
  protocol's error body), ``retry_after_s``, ``delay_ms`` (before the headers), ``ttft_ms``
  (before the first chunk), ``chunk_gap_ms``, ``text``, ``chunks``, ``cut_after_chunks``
  (close the connection after that many content chunks; 0: right after the headers),
  ``stall_after_chunks`` (stop sending, keep the connection open), ``malformed_sse`` (true or a count),
  ``error_event_after_200`` (true: an in-band error before any content; a number: after that
  many chunks), ``malformed_json``, ``content_type``, ``tool_call`` ({"name", "arguments"}),
  ``usage`` ({"input_tokens", "output_tokens"}, and for a non-streamed answer
  ``cache_read_tokens``/``cache_write_tokens``: provider prompt-cache usage), ``pad_bytes`` (the answer, or the error
  message, padded to that many bytes), ``huge_line_bytes`` (streamed: one SSE line that long,
  no newline), ``omit_done`` (OpenAI: no ``[DONE]``), ``one_write`` (streamed: every event in one write; no other stream shaping), ``reject_prefill`` (a 400 for a request ending in an assistant message). A
  request ending in an assistant message (Anthropic; OpenAI with ``continue_final_message``)
  is continued: the answer is the scripted text after that prefix.
- ``POST /_fake/default``: the behaviour used when no script is queued.
- ``GET /_fake/requests``: what arrived (method, path, query, headers, JSON body, ``peer``: the
  client's host and port, and ``disconnected`` when it went away before the answer was complete).
- ``POST /_fake/reset``: clears the script, the default and the log.

``responder(protocol, model, body) -> behaviour`` decides the default answer per request
(the demo uses it to simulate models of different quality and speed).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable

import orjson
from aiohttp import web

from ..core.types import content_text
from .fake_batches import add_batch_routes
from .fake_extras import Moderation, continued, huge_line, prefill_of
from .fake_fronts import add_routes as add_front_routes
from .fake_gemini_batch import add_gemini_batch_routes
from .fake_responses import input_tokens, responses_body, responses_error_event, responses_events
from .loopback import LoopbackServer
from .wire import (
    anthropic_body,
    anthropic_error_event,
    anthropic_events,
    anthropic_preamble,
    error_body,
    gemini_body,
    gemini_error_event,
    gemini_events,
    openai_body,
    openai_error_event,
    openai_events,
    split_text,
    with_cache_usage,
)

DEFAULT_PORTS = {"openai": 9101, "anthropic": 9102, "gemini": 9103}
Responder = Callable[[str, str, dict], dict]
_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def _text_of(body: dict) -> str:
    """The last user text of an OpenAI (chat or Responses), Anthropic or Gemini request body."""
    if isinstance(body.get("input"), str):
        return body["input"]
    for m in reversed(body.get("messages") or body.get("contents") or body.get("input") or []):
        if not isinstance(m, dict) or m.get("role") not in ("user", None):
            continue
        c = m.get("content", m.get("parts"))
        if isinstance(c, str | list):
            return content_text(c, " ", any_part=True)
    return ""


def _json_mode(protocol: str, body: dict) -> bool:
    if protocol == "openai":
        fmt = body.get("response_format") or (body.get("text") or {}).get("format") or {}
        return fmt.get("type") in ("json_object", "json_schema")
    if protocol == "gemini":
        return (body.get("generationConfig") or {}).get("responseMimeType") == "application/json"
    return False


class FakeProvider(LoopbackServer):
    """A scriptable fake OpenAI, Anthropic or Gemini server on loopback (see the module docstring)."""

    runner_kwargs = {"handler_cancellation": True}  # a client that leaves cancels its handler
    site_kwargs = {"backlog": 1024}

    def __init__(
        self,
        protocol: str = "openai",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        responder: Responder | None = None,
        max_log: int = 1000,
    ) -> None:
        if protocol not in DEFAULT_PORTS:
            raise ValueError(f"protocol must be one of {sorted(DEFAULT_PORTS)}, not {protocol!r}")
        self.protocol, self.host, self.port = protocol, host, port
        self.responder = responder
        self.queue: deque[dict] = deque()
        self.default: dict = {}
        self.log: deque[dict] = deque(maxlen=max_log)
        self._ids = itertools.count(1)
        self.moderation = Moderation()  # POST /v1/moderations (fake_extras)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/_fake/script", self._script)
        app.router.add_post("/_fake/default", self._set_default)
        app.router.add_get("/_fake/requests", self._requests)
        app.router.add_post("/_fake/reset", self._reset)
        add_front_routes(self, app)  # embeddings, completions, count_tokens, Azure's layout
        self.batches = add_batch_routes(self, app)  # OpenAI Batch / Anthropic Message Batches (fake_batches)
        add_gemini_batch_routes(self.batches, app)  # before the catch-all models/{tail} route
        if protocol == "openai":
            app.router.add_post("/v1/chat/completions", self._answer)
            app.router.add_get("/v1/models", self._models)
            app.router.add_post("/v1/responses", self._answer)  # the Responses API (fake_responses)
            app.router.add_post("/v1/responses/input_tokens", self._input_tokens)
            app.router.add_post("/v1/moderations", self.moderation.handle)
            app.router.add_post("/_fake/moderation", self.moderation.script)
        elif protocol == "anthropic":
            app.router.add_post("/v1/messages", self._answer)
        else:
            app.router.add_post("/v1beta/models/{tail}", self._answer)
            app.router.add_post("/v1/models/{tail}", self._answer)
        self.app = app

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL a client (or faregate's model config) uses: OpenAI's includes ``/v1``."""
        return self.origin + "/v1" if self.protocol == "openai" else self.origin

    # -- in-process control (same effect as the HTTP control API) ----------------------------

    def script(self, behaviours: list[dict] | dict) -> None:
        self.queue.extend(behaviours if isinstance(behaviours, list) else [behaviours])

    def requests(self) -> list[dict]:
        return list(self.log)

    def reset(self) -> None:
        self.queue.clear()
        self.default = {}
        self.log.clear()
        self.moderation.reset()
        self.batches.reset()

    async def _script(self, request: web.Request) -> web.Response:
        data = orjson.loads(await request.read() or b"[]")
        if not isinstance(data, (list, dict)):
            return web.json_response({"error": "send a JSON list of behaviours"}, status=400)
        self.script(data)
        return web.json_response({"queued": len(self.queue)})

    async def _set_default(self, request: web.Request) -> web.Response:
        data = orjson.loads(await request.read() or b"{}")
        self.default = data if isinstance(data, dict) else {}
        return web.json_response({"default": self.default})

    async def _requests(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"requests": list(self.log)}), headers=_JSON)

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _input_tokens(self, request: web.Request) -> web.Response:
        body, _, _ = self._parse(request, await request.read())
        self.log.append({"method": request.method, "path": request.path, "query": {}, "headers": {}, "body": body})
        return await input_tokens(request)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]}
        )

    # -- answering ---------------------------------------------------------------------------

    def _parse(self, request: web.Request, raw: bytes) -> tuple[dict, str, bool]:
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if self.protocol == "gemini":
            tail = request.match_info.get("tail", "")
            model, _, action = tail.partition(":")
            return body, model, action == "streamGenerateContent"
        return body, str(body.get("model", "")), bool(body.get("stream"))

    def _auth_error(self, request: web.Request) -> str | None:
        h = request.headers
        if self.protocol == "anthropic":
            if not (h.get("x-api-key") or h.get("authorization")):
                return "missing x-api-key header"
            if not h.get("anthropic-version"):
                return "missing anthropic-version header"
        if self.protocol == "gemini" and not (h.get("x-goog-api-key") or request.query.get("key")):
            return "API key not valid. Please pass a valid API key."
        return None

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body, model, stream = self._parse(request, raw)
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": {str(k).lower(): v for k, v in request.headers.items()},
            "body": body,
            "disconnected": False,
            "peer": list(request.transport.get_extra_info("peername") or ()) if request.transport else [],
        }
        self.log.append(entry)
        if self.queue:
            b = self.queue.popleft()
        elif self.responder is not None:
            b = {**self.default, **(self.responder(self.protocol, model, body) or {})}
        else:
            b = self.default
        try:
            return await self._respond(request, body, model, stream, b)
        except (asyncio.CancelledError, ConnectionResetError):
            entry["disconnected"] = True
            raise

    def _content(self, body: dict, model: str, b: dict) -> tuple[str | None, dict | None, tuple[int, int]]:
        tool = b.get("tool_call")
        if tool is None and self.protocol == "anthropic":
            tc = body.get("tool_choice") or {}
            if tc.get("type") == "tool":  # a forced tool (faregate's JSON mode uses one)
                tool = {"name": tc.get("name", ""), "arguments": b.get("text") or '{"answer": "ok"}'}
        if tool is not None:
            args = tool.get("arguments", "{}")
            tool = {
                "name": tool.get("name", "tool"),
                "arguments": args if isinstance(args, str) else orjson.dumps(args).decode(),
            }
        text = b.get("text")
        if text is None and tool is None:
            asked = _text_of(body)
            text = (
                '{"answer": "ok", "echo": ' + orjson.dumps(asked[:40]).decode() + "}"
                if _json_mode(self.protocol, body)
                else f"Answer from {model or 'fake'}: {asked[:60]}"
            )
        u = b.get("usage") or {}
        prompt_chars = len(orjson.dumps(body.get("messages") or body.get("contents") or body.get("input") or []))
        usage = (
            int(u.get("input_tokens", max(1, prompt_chars // 4))),
            int(u.get("output_tokens", max(1, len(text or (tool or {}).get("arguments", "")) // 4))),
        )
        return text, tool, usage

    async def _respond(self, request: web.Request, body: dict, model: str, stream: bool, b: dict) -> web.StreamResponse:
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        status = int(b.get("status", 200))
        headers: dict[str, str] = {}
        if b.get("retry_after_s") is not None:
            headers["retry-after"] = str(b["retry_after_s"])
        auth_problem = self._auth_error(request)
        if auth_problem and status < 400:
            status = 401
            b = {**b, "error_message": auth_problem}
        prefill = prefill_of(self.protocol, body)
        if prefill is not None and b.get("reject_prefill"):
            status, b = 400, {**b, "error_message": "a final assistant message (prefill) is not supported"}
        if status >= 400:
            msg = b.get("error_message") or f"fake {self.protocol} error {status}"
            if b.get("pad_bytes"):
                msg = msg + " " + "x" * int(b["pad_bytes"])
            return web.Response(
                status=status, body=error_body(self.protocol, status, msg), headers={**_JSON, **headers}
            )
        text, tool, usage = self._content(body, model, b)
        if b.get("pad_bytes"):
            text = (text or "") + "x" * int(b["pad_bytes"])
        text = continued(text, prefill)
        rid = f"fake-{next(self._ids)}"
        if not stream:
            if b.get("ttft_ms"):
                await asyncio.sleep(b["ttft_ms"] / 1000)
            if b.get("malformed_json"):
                payload = b'{"id": "broken", "choices": [ {'
            elif b.get("error_event_after_200"):  # a 200 whose body is the protocol's error object
                payload = error_body(self.protocol, 500, f"fake {self.protocol} error in a 200")
            else:
                build = {"openai": openai_body, "anthropic": anthropic_body, "gemini": gemini_body}[self.protocol]
                build = responses_body if request.path.endswith("/responses") else build
                payload = build(rid, model, text, tool, usage)
                payload = with_cache_usage(self.protocol, payload, b.get("usage") or {})
            ctype = b.get("content_type") or "application/json"
            if b.get("cut_after_chunks") is not None or b.get("stall_after_chunks") is not None:
                # Half the body under a full Content-Length, then stall or drop the connection.
                resp = web.StreamResponse(
                    headers={**headers, "content-type": ctype, "content-length": str(len(payload))}
                )
                await resp.prepare(request)
                await resp.write(payload[: len(payload) // 2])
                if b.get("stall_after_chunks") is not None:
                    await asyncio.sleep(3600)
                request.transport.close()  # type: ignore[union-attr]
                raise ConnectionResetError("scripted cut")
            return web.Response(body=payload, headers={**headers, "content-type": ctype})
        return await self._stream(request, body, model, rid, text, tool, usage, b, headers)

    def _stream_events(
        self, body: dict, model: str, rid: str, pieces: list[str], tool: dict | None, usage: tuple[int, int]
    ) -> tuple[bytes, list[bytes], list[bytes], Callable[[str], bytes]]:
        """The protocol's stream: (preamble, content chunks, closing chunks, in-band error event)."""
        if self.protocol == "openai":
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            content, closing = openai_events(rid, model, pieces, tool, usage, include_usage)
            return b"", content, closing, openai_error_event
        if self.protocol == "anthropic":
            content, closing = anthropic_events(pieces, tool, usage)
            return anthropic_preamble(rid, model, usage), content, closing, anthropic_error_event
        content, closing = gemini_events(rid, model, pieces, tool, usage)
        return b"", content, closing, gemini_error_event

    async def _stream(
        self,
        request: web.Request,
        body: dict,
        model: str,
        rid: str,
        text: str | None,
        tool: dict | None,
        usage: tuple[int, int],
        b: dict,
        headers: dict,
    ) -> web.StreamResponse:
        pieces = split_text(text or "", int(b.get("chunks", 3)))
        p = self.protocol
        error_event: Callable[[str], bytes] = responses_error_event
        if request.path.endswith("/responses"):
            preamble = b""
            content, closing = responses_events(rid, model, pieces, tool, usage)
        else:
            preamble, content, closing, error_event = self._stream_events(body, model, rid, pieces, tool, usage)
        if b.get("one_write"):  # every event in one write, as a fast upstream's one segment
            preamble, content, closing = b"", [preamble + b"".join(content + closing)], []
        resp = web.StreamResponse(
            headers={**_SSE, **headers, **({"content-type": b["content_type"]} if b.get("content_type") else {})}
        )
        await resp.prepare(request)
        if preamble:
            await resp.write(preamble)
        if b.get("huge_line_bytes"):
            return await huge_line(resp, int(b["huge_line_bytes"]))
        cut, stall = b.get("cut_after_chunks"), b.get("stall_after_chunks")
        err_at = 0 if b.get("error_event_after_200") is True else b.get("error_event_after_200")
        gap = (b.get("chunk_gap_ms") or 0) / 1000
        if b.get("ttft_ms"):
            await asyncio.sleep(b["ttft_ms"] / 1000)
        for _ in range(int(b.get("malformed_sse") or 0)):  # true: one; a number: that many
            await resp.write(
                b'data: {"broken": \n\n' if p != "anthropic" else b"event: content_block_delta\ndata: {broken\n\n"
            )
        for i, chunk in enumerate(content):
            if cut is not None and i >= cut:
                request.transport.close()  # type: ignore[union-attr]
                raise ConnectionResetError("scripted cut")
            if stall is not None and i >= stall:
                await asyncio.sleep(3600)  # until the client goes away (the handler is cancelled)
            if err_at is not None and i >= err_at:
                await resp.write(error_event(f"fake {p} in-band error"))
                return resp
            if gap and i:
                await asyncio.sleep(gap)
            await resp.write(chunk)
        if err_at is not None:
            await resp.write(error_event(f"fake {p} in-band error"))
            return resp
        if b.get("omit_done") and closing and closing[-1] == b"data: [DONE]\n\n":
            closing = closing[:-1]
        for chunk in closing:
            await resp.write(chunk)
        await resp.write_eof()
        return resp
