"""Gemini answers -> canonical: whole GenerateContentResponses and their SSE stream.

``Reply`` folds response chunks into events for both paths. Gemini function calls carry no id:
answers number them ``call_0``, ``call_1``... within one reply.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import UpstreamError, upstream_kind_for_status
from ..core.types import ChatResponse, Event, Finish, StreamStart, TextDelta, ToolCall, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from .base import StreamParser, malformed
from .sse import SSEDecoder

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


def usage_from_gemini(u: dict[str, Any] | None) -> Usage:
    """Gemini's usageMetadata as canonical usage (tool-use prompt and thought tokens included)."""
    if not u:
        return Usage()
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    output = int(u.get("candidatesTokenCount") or 0) + int(u.get("thoughtsTokenCount") or 0)
    return Usage(prompt, output, int(u.get("cachedContentTokenCount") or 0))


def error_from_body(err: Any) -> UpstreamError:
    """A Gemini ``error`` object as an ``UpstreamError`` classified by its code."""
    code = err.get("code") if isinstance(err, dict) else None
    status = code if isinstance(code, int) else 500
    message = (err.get("message") if isinstance(err, dict) else None) or str(err)
    label = err.get("status") if isinstance(err, dict) and err.get("status") else "error"
    return UpstreamError(
        f"gemini upstream sent an error: {label}: {message}",
        kind=upstream_kind_for_status(status, message),
        provider_status=status,
    )


class Reply:
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
            raise error_from_body(chunk["error"])
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
                out.append(Finish(FINISH_REASONS.get(reason or "", "stop")))
            out.append(UsageEvent(usage_from_gemini(self.usage)))
        return out


def parse_message(body: bytes, *, model: str) -> ChatResponse:
    """A whole GenerateContentResponse body into a ``ChatResponse``."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed("gemini", "the body is not JSON") from None
    if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data or "error" in data):
        raise malformed("gemini", "the body is not a GenerateContentResponse")
    reply = Reply()
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


def error_message(status: int, body: bytes) -> str:
    """The provider's own message from a Gemini error body."""
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


class GeminiStream(StreamParser):
    """SSE ``data:`` lines, each a GenerateContentResponse. No end marker: a chunk carrying a
    ``finishReason`` (or a prompt block) ends the answer; a stream closed before one was cut."""

    __slots__ = ("_sse", "_reply")

    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._reply = Reply()

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
                self.skip_malformed("gemini", "a stream event is not JSON")
                continue
            if not isinstance(chunk, dict):
                self.skip_malformed("gemini", "a stream event is not an object")
                continue
            out.extend(self._reply.events(chunk))
        return out
