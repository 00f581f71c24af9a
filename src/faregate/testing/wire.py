"""What each fake provider says on the wire: bodies, stream events and error shapes of the
OpenAI, Anthropic and Gemini APIs, as their official SDKs parse them. Pure functions."""

from __future__ import annotations

import time
from typing import Any

import orjson

OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(protocol: str, status: int, message: str) -> bytes:
    if protocol == "anthropic":
        return orjson.dumps(
            {"type": "error", "error": {"type": ANTHROPIC_ERROR_TYPES.get(status, "api_error"), "message": message}}
        )
    if protocol == "gemini":
        return orjson.dumps(
            {"error": {"code": status, "message": message, "status": GEMINI_STATUS.get(status, "INTERNAL")}}
        )
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": OPENAI_ERROR_TYPES.get(status, "server_error"),
                "param": None,
                "code": None,
            }
        }
    )


def split_text(text: str, chunks: int) -> list[str]:
    chunks = max(1, min(chunks, len(text) or 1))
    size = -(-len(text) // chunks) if text else 0
    return [text[i : i + size] for i in range(0, len(text), size)] if text else [""]


def split_args(args: str, parts: int = 2) -> list[str]:
    return split_text(args, parts) if args else [""]


# -- OpenAI -----------------------------------------------------------------------------------


def openai_body(rid: str, model: str, text: str | None, tool: dict | None, usage: tuple[int, int]) -> bytes:
    msg: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool:
        msg["tool_calls"] = [
            {
                "id": "call_fake_0",
                "type": "function",
                "function": {"name": tool["name"], "arguments": tool["arguments"]},
            }
        ]
    return orjson.dumps(
        {
            "id": rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": msg, "logprobs": None, "finish_reason": "tool_calls" if tool else "stop"}
            ],
            "usage": {
                "prompt_tokens": usage[0],
                "completion_tokens": usage[1],
                "total_tokens": usage[0] + usage[1],
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
    )


def openai_events(
    rid: str, model: str, pieces: list[str], tool: dict | None, usage: tuple[int, int], include_usage: bool
) -> tuple[list[bytes], list[bytes]]:
    """(content events, closing events): the chunk lists a stream sends."""
    created = int(time.time())

    def chunk(delta: dict | None, finish: str | None = None, usage_obj: dict | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage_obj is not None:
            body["usage"] = usage_obj
        return b"data: " + orjson.dumps(body) + b"\n\n"

    content = [chunk({"role": "assistant", "content": ""})]
    if tool:
        for i, part in enumerate(split_args(tool["arguments"])):
            call: dict[str, Any] = {"index": 0, "function": {"arguments": part}}
            if i == 0:
                call.update(id="call_fake_0", type="function", function={"name": tool["name"], "arguments": part})
            content.append(chunk({"tool_calls": [call]}))
    else:
        content.extend(chunk({"content": p}) for p in pieces)
    closing = [chunk({}, "tool_calls" if tool else "stop")]
    if include_usage:
        closing.append(
            chunk(
                None,
                usage_obj={
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": sum(usage),
                    "prompt_tokens_details": {"cached_tokens": 0},
                },
            )
        )
    closing.append(b"data: [DONE]\n\n")
    return content, closing


def openai_error_event(message: str) -> bytes:
    return (
        b"data: "
        + orjson.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
        + b"\n\n"
    )


# -- Anthropic --------------------------------------------------------------------------------


def _sse(event: str, data: dict) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def anthropic_body(rid: str, model: str, text: str | None, tool: dict | None, usage: tuple[int, int]) -> bytes:
    content: list[dict] = []
    if text:
        content.append({"type": "text", "text": text})
    if tool:
        content.append(
            {
                "type": "tool_use",
                "id": "toolu_fake_0",
                "name": tool["name"],
                "input": orjson.loads(tool["arguments"] or "{}"),
            }
        )
    return orjson.dumps(
        {
            "id": rid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": "tool_use" if tool else "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage[0],
                "output_tokens": usage[1],
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    )


def anthropic_preamble(rid: str, model: str, usage: tuple[int, int]) -> bytes:
    return _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": rid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": usage[0],
                    "output_tokens": 1,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                },
            },
        },
    )


def anthropic_events(pieces: list[str], tool: dict | None, usage: tuple[int, int]) -> tuple[list[bytes], list[bytes]]:
    if tool:
        content = [
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "tool_use", "id": "toolu_fake_0", "name": tool["name"], "input": {}},
                },
            )
        ]
        content += [
            _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}},
            )
            for p in split_args(tool["arguments"])
        ]
    else:
        content = [
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _sse("ping", {"type": "ping"}),
        ]
        content += [
            _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            )
            for p in pieces
        ]
    closing = [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return content, closing


def anthropic_error_event(message: str) -> bytes:
    return _sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": message}})


# -- Gemini -----------------------------------------------------------------------------------


def _gemini_usage(usage: tuple[int, int]) -> dict:
    return {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1], "totalTokenCount": sum(usage)}


def gemini_body(rid: str, model: str, text: str | None, tool: dict | None, usage: tuple[int, int]) -> bytes:
    parts: list[dict] = []
    if text:
        parts.append({"text": text})
    if tool:
        parts.append({"functionCall": {"name": tool["name"], "args": orjson.loads(tool["arguments"] or "{}")}})
    return orjson.dumps(
        {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": _gemini_usage(usage),
            "modelVersion": model,
            "responseId": rid,
        }
    )


def gemini_events(
    rid: str, model: str, pieces: list[str], tool: dict | None, usage: tuple[int, int]
) -> tuple[list[bytes], list[bytes]]:
    def ev(parts: list[dict], finish: str | None = None) -> bytes:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            cand["finishReason"] = finish
        body = {"candidates": [cand], "usageMetadata": _gemini_usage(usage), "modelVersion": model, "responseId": rid}
        return b"data: " + orjson.dumps(body) + b"\r\n\r\n"

    if tool:
        content = [ev([{"functionCall": {"name": tool["name"], "args": orjson.loads(tool["arguments"] or "{}")}}])]
    else:
        content = [ev([{"text": p}]) for p in pieces]
    return content, [ev([{"text": ""}], "STOP")]


def gemini_error_event(message: str) -> bytes:
    return b"data: " + orjson.dumps({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}}) + b"\r\n\r\n"


def with_cache_usage(protocol: str, payload: bytes, usage: dict) -> bytes:
    """A non-streamed answer whose usage reports the behaviour's ``cache_read_tokens`` (and,
    for Anthropic, ``cache_write_tokens``) the way each protocol does; unchanged without them."""
    read, write = int(usage.get("cache_read_tokens", 0)), int(usage.get("cache_write_tokens", 0))
    if not (read or write):
        return payload
    body = orjson.loads(payload)
    if protocol == "openai":
        body["usage"]["prompt_tokens_details"] = {"cached_tokens": read}
    elif protocol == "anthropic":
        body["usage"]["cache_read_input_tokens"] = read
        body["usage"]["cache_creation_input_tokens"] = write
    else:
        body["usageMetadata"]["cachedContentTokenCount"] = read
    return orjson.dumps(body)
