"""Google Gemini (``{base_url}/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``): canonical <-> Gemini wire.

Translation choices worth knowing:

- ``system``/``developer`` messages become ``systemInstruction``; assistant turns are role
  ``model``; tool results are ``functionResponse`` parts in a user turn, named after the call they
  answer (looked up by ``tool_call_id`` in the earlier assistant message). A tool result that is a
  JSON object is sent as the response itself, anything else as ``{"output": ...}``.
- Gemini function calls carry no id: answers number them ``call_0``, ``call_1``... within one reply.
- JSON schemas (tool parameters, ``responseSchema``) are rewritten into Gemini's OpenAPI subset:
  ``$ref`` inlined, ``type: [x, "null"]`` and null variants turned into ``nullable``, ``const``
  into ``enum``, keys Gemini rejects (``additionalProperties``, ``$schema``, ``strict``...) dropped;
  ``responseSchema`` also gets ``propertyOrdering`` so the JSON keeps the schema's key order.
- Gemini 3 requires a thought signature on replayed function calls; the canonical history has none,
  so replayed calls carry Google's documented placeholder (``PLACEHOLDER_THOUGHT_SIGNATURE``).
- ``user``, ``metadata`` and ``parallel_tool_calls`` have no Gemini equivalent and are dropped.
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

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Documented by Google for histories whose function calls come from elsewhere (no real signature).
PLACEHOLDER_THOUGHT_SIGNATURE = "skip_thought_signature_validator"

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

# Gemini's Schema object (an OpenAPI 3.0 subset): anything else is rejected with a 400.
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_FORMATS = {"STRING": {"enum", "date-time"}, "INTEGER": {"int32", "int64"}, "NUMBER": {"float", "double"}}
_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
    "pdf": "application/pdf",
}


def gemini_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON Schema rewritten into the subset Gemini's ``Schema`` accepts."""
    if not isinstance(schema, dict) or depth > 40:
        return {} if depth > 40 else schema
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, dict):
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return gemini_schema({**target, **rest}, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if isinstance(value, list):
                kinds = [t for t in value if t != "null"]
                if len(kinds) < len(value):
                    out["nullable"] = True
                value = kinds[0] if kinds else "null"
            if isinstance(value, str):
                out["type"] = value.upper()
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {k: gemini_schema(v, defs, depth + 1) for k, v in value.items()}
        elif key == "items":
            out["items"] = gemini_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            variants = []
            for v in value:
                if isinstance(v, dict) and v.get("type") == "null":
                    out["nullable"] = True
                else:
                    variants.append(gemini_schema(v, defs, depth + 1))
            if len(variants) == 1:
                out.update({k: v for k, v in variants[0].items() if k not in out})
            elif variants:
                out["anyOf"] = variants
        elif key in _SCHEMA_KEYS:
            out[key] = value
    if "enum" in out:
        if all(isinstance(v, str) for v in out["enum"]):
            out.setdefault("type", "STRING")
        else:
            del out["enum"]  # Gemini enums are strings only
    fmt = out.get("format")
    if fmt is not None and fmt not in _FORMATS.get(out.get("type", ""), ()):
        del out["format"]
    if out.get("type") == "OBJECT" and "properties" not in out:
        out.pop("required", None)
    return out


def _with_property_ordering(schema: Any) -> Any:
    """Gemini writes JSON properties in alphabetical order unless told otherwise: keep the schema's order."""
    if isinstance(schema, dict):
        props = schema.get("properties")
        if isinstance(props, dict):
            for sub in props.values():
                _with_property_ordering(sub)
            if len(props) > 1:
                schema.setdefault("propertyOrdering", list(props))
        _with_property_ordering(schema.get("items"))
        for sub in schema.get("anyOf") or ():
            _with_property_ordering(sub)
    return schema


def _mime_from_url(url: str) -> str | None:
    tail = url.split("?", 1)[0].rsplit(".", 1)
    return _IMAGE_TYPES.get(tail[-1].lower()) if len(tail) == 2 else None


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            if part.get("text"):
                out.append({"text": part["text"]})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                continue
            if url.startswith("data:"):
                header, sep, data = url[5:].partition(",")
                mime, _, encoding = header.partition(";")
                if not sep or encoding != "base64" or not data:
                    param = f"{where}.{j}.image_url.url"
                    raise InvalidRequest(
                        f"{param}: a data URL image must be base64 encoded (data:image/png;base64,...)", param=param
                    )
                out.append({"inlineData": {"mimeType": mime or "image/png", "data": data}})
            else:
                file_data = {"fileUri": url}
                mime = _mime_from_url(url)
                if mime:
                    file_data["mimeType"] = mime
                out.append({"fileData": file_data})
    return out


def _function_response(m: dict[str, Any], name: str) -> dict[str, Any]:
    text = content_text(m.get("content"), sep="")
    try:
        value = orjson.loads(text) if text else ""
    except orjson.JSONDecodeError:
        value = text
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns seen so far

    def push(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})

    for i, m in enumerate(messages):
        role = m.get("role")
        where = f"messages.{i}"
        if role in ("system", "developer"):
            text = content_text(m.get("content"), sep="")
            if text:
                system.append(text)
        elif role == "user":
            push("user", _parts(m.get("content"), f"{where}.content"))
        elif role == "assistant":
            parts = _parts(m.get("content"), f"{where}.content")
            for j, call in enumerate(m.get("tool_calls") or ()):
                fn = call.get("function") or {}
                raw = fn.get("arguments")
                try:
                    args = raw if isinstance(raw, dict) else (orjson.loads(raw) if raw else {})
                except orjson.JSONDecodeError:
                    param = f"{where}.tool_calls.{j}.function.arguments"
                    raise InvalidRequest(f"{param}: not valid JSON", param=param) from None
                name = fn.get("name") or ""
                if call.get("id"):
                    names[call["id"]] = name
                part: dict[str, Any] = {
                    "functionCall": {"name": name, "args": args if isinstance(args, dict) else {"value": args}}
                }
                if j == 0:
                    part["thoughtSignature"] = PLACEHOLDER_THOUGHT_SIGNATURE
                parts.append(part)
            push("model", parts)
        elif role == "tool":
            call_id = m.get("tool_call_id") or ""
            name = names.get(call_id) or m.get("name") or call_id
            push("user", [_function_response(m, name)])
    return system, out


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"functionCallingConfig": {"mode": "AUTO"}}
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name", "")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    decl: dict[str, Any] = {"name": fn.get("name", "")}
    if fn.get("description"):
        decl["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, dict) and params.get("properties"):  # Gemini rejects an OBJECT without properties
        decl["parameters"] = gemini_schema(params)
    return decl


def build_body(req: ChatRequest) -> dict[str, Any]:
    """The Gemini GenerateContentRequest for ``req`` (public for the tests and the fake provider)."""
    system, contents = _contents(req.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in req.tools]}]
        config = _tool_config(req.tool_choice)
        if config:
            body["toolConfig"] = config
    gen: dict[str, Any] = {}
    if req.temperature is not None:
        gen["temperature"] = req.temperature
    if req.top_p is not None:
        gen["topP"] = req.top_p
    if req.max_tokens is not None:
        gen["maxOutputTokens"] = req.max_tokens
    if req.stop:
        gen["stopSequences"] = list(req.stop)
    if req.seed is not None:
        gen["seed"] = req.seed
    fmt = req.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        if isinstance(schema, dict):
            gen["responseSchema"] = _with_property_ordering(gemini_schema(schema))
    if gen:
        body["generationConfig"] = gen
    return body


def usage_from_gemini(u: dict[str, Any] | None) -> Usage:
    if not u:
        return Usage()
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    output = int(u.get("candidatesTokenCount") or 0) + int(u.get("thoughtsTokenCount") or 0)
    return Usage(prompt, output, int(u.get("cachedContentTokenCount") or 0))


def _error(err: Any) -> UpstreamError:
    code = err.get("code") if isinstance(err, dict) else None
    status = code if isinstance(code, int) else 500
    message = (err.get("message") if isinstance(err, dict) else None) or str(err)
    label = err.get("status") if isinstance(err, dict) and err.get("status") else "error"
    return UpstreamError(
        f"gemini upstream sent an error: {label}: {message}",
        kind=upstream_kind_for_status(status, message),
        provider_status=status,
    )


class _Reply:
    """Folds GenerateContentResponse chunks into events; shared by the whole and streamed answers."""

    __slots__ = ("started", "finished", "calls", "usage")

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.calls = 0
        self.usage: dict[str, Any] | None = None

    def events(self, chunk: Any) -> list[Event]:
        if not isinstance(chunk, dict):
            raise malformed("gemini", "a response is not an object")
        if "error" in chunk:
            raise _error(chunk["error"])
        out: list[Event] = []
        if not self.started:
            self.started = True
            out.append(StreamStart(chunk.get("responseId") or "", chunk.get("modelVersion") or ""))
        candidates = chunk.get("candidates") or []
        candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        for part in (candidate.get("content") or {}).get("parts") or ():
            if not isinstance(part, dict) or part.get("thought"):
                continue  # thought summaries are not part of the answer
            if "functionCall" in part:
                call = part["functionCall"] or {}
                index = self.calls
                self.calls += 1
                out.append(
                    ToolCallDelta(
                        index,
                        call.get("id") or f"call_{index}",
                        call.get("name") or "",
                        orjson.dumps(call.get("args") or {}).decode(),
                    )
                )
            elif part.get("text"):
                out.append(TextDelta(part["text"]))
        if chunk.get("usageMetadata"):
            self.usage = chunk["usageMetadata"]
            if self.finished:  # a late usage update after the finish chunk
                out.append(UsageEvent(usage_from_gemini(self.usage)))
        reason = candidate.get("finishReason")
        blocked = not candidates and (chunk.get("promptFeedback") or {}).get("blockReason")
        if (reason or blocked) and not self.finished:
            self.finished = True
            if blocked:
                out.append(Finish("content_filter"))
            elif reason == "STOP" and self.calls:
                out.append(Finish("tool_calls"))
            else:
                out.append(Finish(FINISH_REASONS.get(reason, "stop")))
            out.append(UsageEvent(usage_from_gemini(self.usage)))
        return out


class GeminiAdapter(Adapter):
    protocol = "gemini"

    def build_request(self, req: ChatRequest, target: Target, *, stream: bool) -> UpstreamRequest:
        headers = {"content-type": "application/json", **target.headers}
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/")
        if not (base.endswith("/v1beta") or base.endswith("/v1")):
            base += "/v1beta"
        model = target.upstream_model.removeprefix("models/")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest("POST", f"{base}/models/{model}:{method}", headers, orjson.dumps(build_body(req)))

    def parse_response(self, body: bytes, *, model: str) -> ChatResponse:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise malformed(self.protocol, "the body is not JSON") from None
        if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data or "error" in data):
            raise malformed(self.protocol, "the body is not a GenerateContentResponse")
        reply = _Reply()
        events = reply.events(data)
        if not reply.finished:
            events += [Finish("tool_calls" if reply.calls else "stop"), UsageEvent(usage_from_gemini(reply.usage))]
        text: list[str] = []
        calls: list[ToolCall] = []
        finish, usage, rid = "stop", Usage(), ""
        for ev in events:
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, ToolCallDelta):
                calls.append(ToolCall(ev.id or f"call_{ev.index}", ev.name or "", ev.arguments))
            elif isinstance(ev, Finish):
                finish = ev.reason
            elif isinstance(ev, UsageEvent):
                usage = ev.usage
            elif isinstance(ev, StreamStart):
                rid = ev.id
        return ChatResponse(
            id=rid,
            model=model,
            content="".join(text) if text or not calls else None,
            tool_calls=calls,
            finish_reason=finish,
            usage=usage,
        )

    def stream_parser(self) -> StreamParser:
        return _GeminiStream()

    def error_message(self, status: int, body: bytes) -> str:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if isinstance(data, list) and data:  # streamGenerateContent without alt=sse wraps it in an array
            data = data[0]
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
            if isinstance(err, str) and err:
                return err
        text = body[:500].decode("utf-8", "replace").strip()
        return text or f"HTTP {status}"


class _GeminiStream(StreamParser):
    """SSE ``data:`` lines, each a GenerateContentResponse. No end marker: a chunk carrying a
    ``finishReason`` (or a prompt block) ends the answer; a stream closed before one was cut."""

    __slots__ = ("_sse", "_reply")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._reply = _Reply()

    def feed(self, data: bytes) -> list[Event]:
        return self._events(self._sse.feed(data))

    def close(self) -> list[Event]:
        out = self._events(self._sse.flush())
        if not self._reply.finished:
            err = UpstreamError("gemini upstream closed the stream before a finishReason", kind="transient")
            if self._reply.usage:
                err.partial_usage = usage_from_gemini(self._reply.usage)  # type: ignore[attr-defined]
            raise err
        return out

    def _events(self, pairs: list[tuple[str | None, str]]) -> list[Event]:
        out: list[Event] = []
        for _event, data in pairs:
            if not data:
                continue
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                raise malformed("gemini", "a stream event is not JSON") from None
            out.extend(self._reply.events(chunk))
        return out
