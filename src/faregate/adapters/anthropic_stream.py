"""Anthropic's streamed Messages events -> canonical stream events (``AnthropicStream``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from ..core.errors import UpstreamError
from ..core.types import Event, Finish, StreamStart, TextDelta, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from .anthropic_json_mode import JSON_TOOL
from .anthropic_response import STOP_REASONS, error_from_event, usage_from_anthropic
from .base import StreamParser, malformed
from .sse import SSEDecoder

_TERMINAL = frozenset({"message_delta", "message_stop", "error"})


class AnthropicStream(StreamParser):
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

    def partial_usage(self) -> Usage | None:
        return self._current_usage() if self._usage else None

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
                msg = None
            if not isinstance(msg, dict):
                what = f"a {event or 'stream'} event is not a JSON object"
                if event in _TERMINAL:  # the answer's end (or its error) cannot be skipped
                    raise malformed("anthropic", what)
                self.skip_malformed("anthropic", what)
                continue
            handler = self._HANDLERS.get(msg.get("type") or event or "")
            if handler is not None:
                handler(self, msg, out)
            # ping and event types added later: ignored, as Anthropic's versioning policy asks
        return out

    def _block_delta(self, msg: dict[str, Any], out: list[Event]) -> None:
        delta = msg.get("delta") or {}
        dtype = delta.get("type")
        if dtype == "text_delta":
            if delta.get("text"):
                out.append(TextDelta(delta["text"]))
        elif dtype == "input_json_delta":
            if msg.get("index", -1) in self._json_blocks:
                if delta.get("partial_json"):
                    out.append(TextDelta(delta["partial_json"]))
                return
            tool = self._tools.get(msg.get("index", -1))
            if tool is not None and delta.get("partial_json"):
                self._args_seen.add(tool)
                out.append(ToolCallDelta(tool, arguments=delta["partial_json"]))
        # thinking_delta, signature_delta, citations_delta: not part of the canonical answer

    def _block_start(self, msg: dict[str, Any], out: list[Event]) -> None:
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

    def _block_stop(self, msg: dict[str, Any], out: list[Event]) -> None:
        tool = self._tools.get(msg.get("index", -1))
        if tool is not None and tool not in self._args_seen:
            self._args_seen.add(tool)
            out.append(ToolCallDelta(tool, arguments="{}"))  # a call without arguments: still valid JSON

    def _message_start(self, msg: dict[str, Any], out: list[Event]) -> None:
        message = msg.get("message") or {}
        self._merge_usage(message.get("usage"))
        out.append(StreamStart(message.get("id") or "", message.get("model") or ""))

    def _message_delta(self, msg: dict[str, Any], out: list[Event]) -> None:
        self._merge_usage(msg.get("usage"))
        reason = (msg.get("delta") or {}).get("stop_reason")
        if reason and not self._finished:
            self._finished = True
            finish = STOP_REASONS.get(reason, "stop")
            if finish == "tool_calls" and not self._next_tool and self._json_blocks:
                finish = "stop"  # only the JSON-mode tool was called: a plain answer
            out.append(Finish(finish))

    def _message_stop(self, msg: dict[str, Any], out: list[Event]) -> None:
        if not self._finished:
            self._finished = True
            out.append(Finish("tool_calls" if self._next_tool else "stop"))
        self._stopped = True
        out.append(UsageEvent(self._current_usage()))

    def _error(self, msg: dict[str, Any], out: list[Event]) -> None:
        err = error_from_event(msg.get("error"))
        if self._usage:
            err.partial_usage = self._current_usage()  # type: ignore[attr-defined]
        raise err

    _HANDLERS: ClassVar[dict[str, Callable[[AnthropicStream, dict[str, Any], list[Event]], None]]] = {
        "content_block_delta": _block_delta,
        "content_block_start": _block_start,
        "content_block_stop": _block_stop,
        "message_start": _message_start,
        "message_delta": _message_delta,
        "message_stop": _message_stop,
        "error": _error,
    }
