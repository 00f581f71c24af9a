"""Anthropic Messages API (``POST {base_url}/v1/messages``): canonical <-> Anthropic wire.

Translation choices worth knowing:

- ``system`` and ``developer`` messages, wherever they sit, are hoisted in order into ``system``.
- Tool messages become ``tool_result`` blocks in a user turn; consecutive same-role turns are
  merged, since Anthropic wants user and assistant to alternate.
- ``max_tokens`` is required by Anthropic: ``DEFAULT_MAX_TOKENS`` when the request has none.
- ``temperature`` is clamped to Anthropic's 0..1 range; when both ``temperature`` and ``top_p``
  are set only ``temperature`` is sent (recent Claude models reject the pair).
- ``response_format`` (json_object / json_schema): this API version has no JSON mode. When the
  request has no tools of its own, the schema becomes the input schema of one reserved tool
  (``JSON_TOOL``) that Claude is forced to call; the parsers turn that call back into the text
  answer (streamed as text deltas, finish reason ``stop``), so the client sees plain JSON text that
  matches the schema. With the client's own tools (a forced tool would shut them out), or a schema
  whose root is not an object (tool inputs must be objects), an instruction appended to ``system``
  asks for bare JSON matching the schema instead.
- ``seed`` and OpenAI-only extras have no Anthropic equivalent and are dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import InvalidRequest, UpstreamError, upstream_kind_for_status
from ..core.types import (
    ChatRequest,
    ChatResponse,
    Event,
    Finish,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    UsageEvent,
    content_text,
)
from ..core.usage import Usage
from .base import Adapter, StreamParser, Target, UpstreamRequest, malformed
from .sse import SSEDecoder

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error types -> the HTTP status they stand for, to classify in-band error events.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# The reserved tool that carries JSON-mode answers; a name no client tool is likely to have, since the
# parsers recognise it by name alone.
JSON_TOOL = "faregate_json_response"
JSON_TOOL_DESCRIPTION = (
    "Give your final answer by calling this tool: its input is the answer, "
    "a JSON value that conforms to the input schema."
)

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose before or after it and no Markdown code fences."
)
JSON_SCHEMA_INSTRUCTION = (
    "Respond with a single valid JSON value that conforms to the JSON Schema below, "
    "and nothing else: no prose before or after it and no Markdown code fences."
)


def usage_from_anthropic(u: dict[str, Any] | None) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; canonical input counts them all."""
    if not u:
        return Usage()
    fresh = int(u.get("input_tokens") or 0)
    read = int(u.get("cache_read_input_tokens") or 0)
    written = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(fresh + read + written, int(u.get("output_tokens") or 0), read, written)


def image_block(url: str, where: str) -> dict[str, Any]:
    """An OpenAI ``image_url`` into an Anthropic image block (base64 data URL or a web URL)."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not data:
            raise InvalidRequest(
                f"{where}: a data URL image must be base64 encoded (data:image/png;base64,...)", param=where
            )
        media_type = "image/jpeg" if media_type == "image/jpg" else (media_type or "image/png")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Canonical content (a string or parts) into Anthropic content blocks; empty text is dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                out.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url:
                out.append(image_block(url, f"{where}.{j}.image_url.url"))
    return out


def _tool_use(call: dict[str, Any], where: str) -> dict[str, Any]:
    fn = call.get("function") or {}
    raw = fn.get("arguments")
    if isinstance(raw, dict):
        args: Any = raw
    else:
        try:
            args = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                f"{where}.function.arguments: not valid JSON", param=f"{where}.function.arguments"
            ) from None
    if not isinstance(args, dict):
        args = {"value": args}  # Anthropic's tool input must be an object
    return {"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name") or "", "input": args}


def _messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages.{i}"
        if role in ("system", "developer"):
            text = content_text(m.get("content"), sep="")
            if text:
                system.append(text)
        elif role == "user":
            push("user", _blocks(m.get("content"), f"{where}.content"))
        elif role == "assistant":
            blocks = _blocks(m.get("content"), f"{where}.content")
            blocks += [_tool_use(c, f"{where}.tool_calls.{j}") for j, c in enumerate(m.get("tool_calls") or ())]
            push("assistant", blocks)
        elif role == "tool":
            content = m.get("content")
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.get("tool_call_id") or ""}
            if isinstance(content, str):
                if content:
                    result["content"] = content
            else:
                blocks = _blocks(content, f"{where}.content")
                if blocks:
                    result["content"] = blocks
            push("user", [result])
    for msg in out:  # a turn that is one text block reads better (and is smaller) as a string
        c = msg["content"]
        if len(c) == 1 and c[0]["type"] == "text":
            msg["content"] = c[0]["text"]
    return system, out


def _json_instruction(fmt: dict[str, Any] | None) -> str | None:
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        return JSON_OBJECT_INSTRUCTION
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}  # type: ignore[union-attr]
        schema = spec.get("schema")
        if schema is None:
            return JSON_OBJECT_INSTRUCTION
        name = f" (named {spec['name']!r})" if spec.get("name") else ""
        return f"{JSON_SCHEMA_INSTRUCTION}\nSchema{name}:\n{orjson.dumps(schema).decode()}"
    return None


def _json_tool(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    """The reserved tool for JSON mode, or None when the format is not JSON or the schema root is not an
    object (Anthropic tool inputs are objects)."""
    kind = (fmt or {}).get("type")
    if kind == "json_object":
        schema: Any = {"type": "object"}
    elif kind == "json_schema":
        schema = ((fmt or {}).get("json_schema") or {}).get("schema") or {"type": "object"}
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return None
    else:
        return None
    return {"name": JSON_TOOL, "description": JSON_TOOL_DESCRIPTION, "input_schema": schema}


def _tool_choice(choice: Any, parallel: bool | None) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        out = None
    if parallel is False:
        if out is None:
            out = {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def build_body(req: ChatRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """The Anthropic Messages body for ``req`` (public for the tests and the fake provider)."""
    system, messages = _messages(req.messages)
    json_tool = None if req.tools else _json_tool(req.response_format)
    instruction = None if json_tool else _json_instruction(req.response_format)
    if instruction:
        system.append(instruction)
    body: dict[str, Any] = {"model": model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS, "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    if req.tools:
        tools = []
        for t in req.tools:
            fn = t.get("function") or {}
            tool = {
                "name": fn.get("name", ""),
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
            if fn.get("description"):
                tool["description"] = fn["description"]
            tools.append(tool)
        body["tools"] = tools
        choice = _tool_choice(req.tool_choice, req.parallel_tool_calls)
        if choice is not None:
            body["tool_choice"] = choice
    if json_tool:
        body["tools"] = [json_tool]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    if req.stop:
        stops = [s for s in req.stop if s.strip()]  # Anthropic rejects whitespace-only stop sequences
        if stops:
            body["stop_sequences"] = stops
    if req.temperature is not None:
        body["temperature"] = min(max(float(req.temperature), 0.0), 1.0)
    elif req.top_p is not None:
        body["top_p"] = req.top_p
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if stream:
        body["stream"] = True
    return body


def _error_from_event(err: Any) -> UpstreamError:
    etype = err.get("type", "") if isinstance(err, dict) else ""
    message = (err.get("message") if isinstance(err, dict) else None) or str(err) or "unknown error"
    status = ERROR_STATUS.get(etype, 500)
    return UpstreamError(
        f"anthropic upstream sent an error event: {etype or 'error'}: {message}",
        kind=upstream_kind_for_status(status, message),
        provider_status=status,
    )


class AnthropicAdapter(Adapter):
    protocol = "anthropic"

    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        body = build_body(req, target.upstream_model, stream=stream)
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION, **target.headers}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/")
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed(self.protocol, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise malformed(self.protocol, "the body is not a message object")
        if data.get("type") == "error":
            raise _error_from_event(data.get("error"))
        content = data.get("content")
        if not isinstance(content, list):
            raise malformed(self.protocol, "the message has no content array")
        text: list[str] = []
        calls: list[ToolCall] = []
        json_answer = False
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and not json_answer:
                text.append(block.get("text") or "")
            elif block.get("type") == "tool_use" and block.get("name") == JSON_TOOL:
                # The JSON-mode tool's input is the whole answer: a text preamble beside it would
                # make the answer invalid JSON, so it is dropped.
                text = [orjson.dumps(block.get("input") or {}).decode()]
                json_answer = True
            elif json_answer and block.get("type") == "text":
                continue
            elif block.get("type") == "tool_use":
                calls.append(
                    ToolCall(
                        block.get("id") or f"call_{len(calls)}",
                        block.get("name") or "",
                        orjson.dumps(block.get("input") or {}).decode(),
                    )
                )
        finish = STOP_REASONS.get(data.get("stop_reason") or "", "stop")
        if (
            finish == "tool_calls"
            and not calls
            and any(isinstance(b, dict) and b.get("name") == JSON_TOOL for b in content)
        ):
            finish = "stop"  # only the JSON-mode tool was called: a plain answer
        return ChatResponse(
            id=data.get("id") or "",
            model=model,
            content="".join(text) if text or not calls else None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage_from_anthropic(data.get("usage")),
        )

    def stream_parser(self) -> StreamParser:
        return _AnthropicStream()

    def error_message(self, status: int, body: bytes) -> str:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(err, str) and err:
                return err
            if data.get("message"):
                return str(data["message"])
        text = body[:500].decode("utf-8", "replace").strip()
        return text or f"HTTP {status}"


class _AnthropicStream(StreamParser):
    """message_start, (content_block_start, content_block_delta*, content_block_stop)*, message_delta,
    message_stop; ``ping`` anywhere; ``error`` in band. Tool calls are numbered 0, 1, 2 among the
    ``tool_use`` blocks only; the usage is emitted once, complete, at ``message_stop``."""

    __slots__ = ("_sse", "_usage", "_tools", "_args_seen", "_next_tool", "_json_blocks", "_stopped", "_finished")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._usage: dict[str, int] = {}
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._args_seen: set[int] = set()  # tool call indexes that got argument bytes
        self._next_tool = 0
        self._json_blocks: set[int] = set()  # content blocks of the JSON-mode tool: streamed as text
        self._stopped = False
        self._finished = False

    def feed(self, data: bytes) -> list[Event]:
        return self._events(self._sse.feed(data))

    def close(self) -> list[Event]:
        out = self._events(self._sse.flush())
        if not self._stopped:
            err = UpstreamError("anthropic upstream closed the stream before message_stop", kind="transient")
            if self._usage:
                err.partial_usage = self._current_usage()  # type: ignore[attr-defined]
            raise err
        return out

    def _current_usage(self) -> Usage:
        return usage_from_anthropic(self._usage)

    def _merge_usage(self, u: Any) -> None:
        if isinstance(u, dict):
            for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
                if u.get(key) is not None:
                    self._usage[key] = int(u[key])

    def _events(self, pairs: list[tuple[str | None, str]]) -> list[Event]:
        out: list[Event] = []
        for event, data in pairs:
            if not data:
                continue
            try:
                msg = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise malformed("anthropic", f"a {event or 'stream'} event is not JSON") from None
            if not isinstance(msg, dict):
                raise malformed("anthropic", "a stream event is not an object")
            kind = msg.get("type") or event
            if kind == "content_block_delta":
                delta = msg.get("delta") or {}
                dtype = delta.get("type")
                if dtype == "text_delta":
                    if delta.get("text"):
                        out.append(TextDelta(delta["text"]))
                elif dtype == "input_json_delta":
                    if msg.get("index", -1) in self._json_blocks:
                        if delta.get("partial_json"):
                            out.append(TextDelta(delta["partial_json"]))
                        continue
                    tool = self._tools.get(msg.get("index", -1))
                    if tool is not None and delta.get("partial_json"):
                        self._args_seen.add(tool)
                        out.append(ToolCallDelta(tool, arguments=delta["partial_json"]))
                # thinking_delta, signature_delta, citations_delta: not part of the canonical answer
            elif kind == "content_block_start":
                block = msg.get("content_block") or {}
                btype = block.get("type")
                if btype == "text":
                    if block.get("text"):
                        out.append(TextDelta(block["text"]))
                elif btype == "tool_use" and block.get("name") == JSON_TOOL:
                    self._json_blocks.add(msg.get("index", -1))
                    if block.get("input"):
                        out.append(TextDelta(orjson.dumps(block["input"]).decode()))
                elif btype == "tool_use":
                    tool = self._next_tool
                    self._next_tool += 1
                    self._tools[msg.get("index", -1)] = tool
                    out.append(ToolCallDelta(tool, block.get("id") or f"call_{tool}", block.get("name") or ""))
                    if block.get("input"):
                        self._args_seen.add(tool)
                        out.append(ToolCallDelta(tool, arguments=orjson.dumps(block["input"]).decode()))
            elif kind == "content_block_stop":
                tool = self._tools.get(msg.get("index", -1))
                if tool is not None and tool not in self._args_seen:
                    self._args_seen.add(tool)
                    out.append(ToolCallDelta(tool, arguments="{}"))  # a call without arguments: still valid JSON
            elif kind == "message_start":
                message = msg.get("message") or {}
                self._merge_usage(message.get("usage"))
                out.append(StreamStart(message.get("id") or "", message.get("model") or ""))
            elif kind == "message_delta":
                self._merge_usage(msg.get("usage"))
                reason = (msg.get("delta") or {}).get("stop_reason")
                if reason and not self._finished:
                    self._finished = True
                    finish = STOP_REASONS.get(reason, "stop")
                    if finish == "tool_calls" and not self._next_tool and self._json_blocks:
                        finish = "stop"  # only the JSON-mode tool was called: a plain answer
                    out.append(Finish(finish))
            elif kind == "message_stop":
                if not self._finished:
                    self._finished = True
                    out.append(Finish("tool_calls" if self._next_tool else "stop"))
                self._stopped = True
                out.append(UsageEvent(self._current_usage()))
            elif kind == "error":
                err = _error_from_event(msg.get("error"))
                if self._usage:
                    err.partial_usage = self._current_usage()  # type: ignore[attr-defined]
                raise err
            # ping and event types added later: ignored, as Anthropic's versioning policy asks
        return out
