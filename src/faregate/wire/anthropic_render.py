"""The Anthropic Messages front's output: canonical responses and stream events as Anthropic
JSON and SSE, and errors in Anthropic's envelope. Pure data, no I/O."""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import GatewayError
from ..core.types import ChatResponse, Finish, TextDelta, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from .codec import ReplyFacts, resume_marker

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def _usage(u: Usage) -> dict:
    return {
        "input_tokens": u.input_tokens - u.cached_input_tokens - u.cache_creation_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_creation_tokens,
    }


def render_message(resp: ChatResponse, *, request_id: str, model: str) -> bytes:
    content: list[dict] = []
    if resp.content:
        content.append({"type": "text", "text": resp.content})
    for tc in resp.tool_calls:
        try:
            args = orjson.loads(tc.arguments or "{}")
        except orjson.JSONDecodeError:
            args = {"_raw": tc.arguments}
        content.append({"type": "tool_use", "id": tc.id, "name": tc.name, "input": args})
    return orjson.dumps(
        {
            "id": request_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": STOP_REASONS.get(resp.finish_reason, "end_turn"),
            "stop_sequence": None,
            "usage": _usage(resp.usage),
        }
    )


def _sse(event: str, data: dict) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessageStreamRenderer:
    """Canonical events to the Anthropic streaming sequence (message_start ... message_stop)."""

    def __init__(self, *, request_id: str, model: str) -> None:
        self.request_id, self.model = request_id, model
        self._started = False
        self._block = -1
        self._block_kind: str | None = None
        self._tool_blocks: dict[int, int] = {}
        self._finish = "stop"
        self._usage = Usage()

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": self.request_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 0},
                },
            },
        )

    def _close_block(self) -> bytes:
        if self._block_kind is None:
            return b""
        self._block_kind = None
        return _sse("content_block_stop", {"type": "content_block_stop", "index": self._block})

    def render(self, ev: Any) -> bytes:
        out = self._start()
        if isinstance(ev, TextDelta):
            if self._block_kind != "text":
                out += self._close_block()
                self._block += 1
                self._block_kind = "text"
                out += _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": self._block,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            out += _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": self._block, "delta": {"type": "text_delta", "text": ev.text}},
            )
        elif isinstance(ev, ToolCallDelta):
            if ev.index not in self._tool_blocks:
                out += self._close_block()
                self._block += 1
                self._block_kind = "tool"
                self._tool_blocks[ev.index] = self._block
                out += _sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": self._block,
                        "content_block": {
                            "type": "tool_use",
                            "id": ev.id or f"toolu_{ev.index}",
                            "name": ev.name or "",
                            "input": {},
                        },
                    },
                )
            if ev.arguments:
                out += _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": self._tool_blocks[ev.index],
                        "delta": {"type": "input_json_delta", "partial_json": ev.arguments},
                    },
                )
        elif isinstance(ev, Finish):
            self._finish = ev.reason
        elif isinstance(ev, UsageEvent):
            self._usage = ev.usage
        return out

    def end(self, marker: dict[str, Any] | None = None) -> bytes:
        """The closing events; ``marker`` (a resumed answer) goes on ``message_delta`` as ``faregate``."""
        delta: dict[str, Any] = {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS.get(self._finish, "end_turn"), "stop_sequence": None},
            "usage": _usage(self._usage),
        }
        if marker is not None:
            delta["faregate"] = marker
        return (
            self._start()
            + self._close_block()
            + _sse("message_delta", delta)
            + _sse("message_stop", {"type": "message_stop"})
        )

    @staticmethod
    def error(err: GatewayError) -> bytes:
        return _sse("error", error_body(err))


def error_body(err: GatewayError) -> dict:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(err.status, "api_error"), "message": err.message}}


class MessageEncoder:
    """``MessageStreamRenderer`` as a ``StreamEncoder`` (Anthropic's stream carries no cost)."""

    def __init__(self, facts: ReplyFacts) -> None:
        self._r = MessageStreamRenderer(request_id=facts.request_id, model=facts.model)
        self._facts = facts

    def render(self, ev: Any) -> bytes:
        return self._r.render(ev)

    def end(self, cost_usd: float) -> bytes:
        return self._r.end(resume_marker(self._facts))

    def error(self, err: GatewayError) -> bytes:
        return MessageStreamRenderer.error(err)
