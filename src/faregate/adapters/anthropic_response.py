"""Anthropic answers -> canonical: a whole message, usage, stop reasons and error events.

Shared by the adapter (whole bodies) and ``anthropic_stream`` (streamed events).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import UpstreamError, upstream_kind_for_status
from ..core.types import ChatResponse, ToolCall
from ..core.usage import Usage
from .anthropic_json_mode import JSON_TOOL
from .base import malformed

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


def usage_from_anthropic(u: dict[str, Any] | None) -> Usage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; canonical input counts them all."""
    if not u:
        return Usage()
    fresh = int(u.get("input_tokens") or 0)
    read = int(u.get("cache_read_input_tokens") or 0)
    written = int(u.get("cache_creation_input_tokens") or 0)
    return Usage(fresh + read + written, int(u.get("output_tokens") or 0), read, written)


def error_from_event(err: Any) -> UpstreamError:
    """An in-band ``error`` event (or error body) as an ``UpstreamError`` classified by its type."""
    etype = err.get("type", "") if isinstance(err, dict) else ""
    message = (err.get("message") if isinstance(err, dict) else None) or str(err) or "unknown error"
    status = ERROR_STATUS.get(etype, 500)
    return UpstreamError(
        f"anthropic upstream sent an error event: {etype or 'error'}: {message}",
        kind=upstream_kind_for_status(status, message),
        provider_status=status,
    )


def parse_message(body: bytes, *, model: str) -> ChatResponse:
    """A whole Messages API response body into a ``ChatResponse`` (the JSON-mode tool's input is the text)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise malformed("anthropic", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise malformed("anthropic", "the body is not a message object")
    if data.get("type") == "error":
        raise error_from_event(data.get("error"))
    content = data.get("content")
    if not isinstance(content, list):
        raise malformed("anthropic", "the message has no content array")
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


def error_message(status: int, body: bytes) -> str:
    """The provider's own message from an Anthropic error body."""
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
