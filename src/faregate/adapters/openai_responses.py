"""OpenAI's Responses API as an upstream wire: the OpenAI adapter's second dialect.

A request from the Responses front (``ChatRequest.responses`` set) to a deployment that serves
that API (``Target.responses_api``) goes to ``{base_url}/responses`` as the client wrote it,
with the upstream model id, ``store: false`` (faregate keeps the conversation itself, so
``previous_response_id`` works across providers and failover) and no ``previous_response_id``
(the front has expanded it into ``input``). The answer, whole or streamed, is read back into
canonical events like any other wire, so usage, cost, the cache and the log apply unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..core.errors import UpstreamError
from ..core.types import ChatRequest, ChatResponse, Event, Finish, StreamStart, TextDelta, ToolCall, ToolCallDelta
from ..core.types import UsageEvent as UsageEv
from ..core.usage import Usage
from .base import Target, UpstreamRequest, malformed

# What the front keeps for faregate and never sends upstream.
_LOCAL = ("previous_response_id", "faregate", "store", "stream", "stream_options")


def usage_from_responses(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    cached = (u.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(int(u.get("input_tokens") or 0), int(u.get("output_tokens") or 0), int(cached))


def responses_request(req: ChatRequest, target: Target, base: str, *, stream: bool) -> UpstreamRequest:
    """The upstream ``POST {base}/responses`` for a Responses-front request."""
    assert req.responses is not None
    body = {k: v for k, v in req.responses.items() if k not in _LOCAL}
    body["model"] = target.upstream_model
    body["store"] = False
    if stream:
        body["stream"] = True
    headers = {"content-type": "application/json", **target.headers}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return UpstreamRequest("POST", f"{base}/responses", headers, orjson.dumps(body))


def _finish(data: dict, has_calls: bool) -> str:
    if data.get("status") == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def parse_responses_body(data: dict, *, model: str) -> ChatResponse:
    """A whole ``response`` object into a ``ChatResponse`` (its items kept as they came)."""
    output = data.get("output")
    if not isinstance(output, list):
        raise malformed("openai", "the response object has no output list")
    text: list[str] = []
    calls: list[ToolCall] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            text += [
                str(p.get("text", ""))
                for p in item.get("content") or ()
                if isinstance(p, dict) and p.get("type") == "output_text"
            ]
        elif item.get("type") == "function_call":
            calls.append(
                ToolCall(
                    str(item.get("call_id") or item.get("id") or ""),
                    str(item.get("name") or ""),
                    str(item.get("arguments") or ""),
                )
            )
    if data.get("status") == "failed":
        err = data.get("error") or {}
        raise UpstreamError(f"openai upstream response failed: {err.get('message', 'no message')}", kind="transient")
    return ChatResponse(
        id=str(data.get("id") or ""),
        model=model,
        content="".join(text) if text or not calls else None,
        tool_calls=calls,
        finish_reason=_finish(data, bool(calls)),
        usage=usage_from_responses(data.get("usage")),
        created=int(data.get("created_at") or 0),
        output_items=[i for i in output if isinstance(i, dict)],
    )


class ResponsesEventReader:
    """Responses stream events (``response.*``) into canonical events; ``finished`` once the
    response completed (or ended incomplete), which is the stream's end marker."""

    __slots__ = ("finished", "_tools", "_has_calls")

    def __init__(self) -> None:
        self.finished = False
        self._tools: dict[int, int] = {}  # output_index -> tool-call ordinal
        self._has_calls = False

    def read(self, ev: dict) -> list[Event]:
        kind = ev.get("type")
        if kind == "response.created":
            r = ev.get("response") or {}
            return [StreamStart(str(r.get("id") or ""), str(r.get("model") or ""))]
        if kind == "response.output_text.delta":
            return [TextDelta(str(ev.get("delta") or ""))] if ev.get("delta") else []
        if kind == "response.output_item.added":
            item = ev.get("item") or {}
            if item.get("type") != "function_call":
                return []
            ordinal = self._tools.setdefault(int(ev.get("output_index") or 0), len(self._tools))
            self._has_calls = True
            return [
                ToolCallDelta(ordinal, str(item.get("call_id") or item.get("id") or ""), str(item.get("name") or ""))
            ]
        if kind == "response.function_call_arguments.delta":
            known = self._tools.get(int(ev.get("output_index") or 0))
            return [] if known is None else [ToolCallDelta(known, arguments=str(ev.get("delta") or ""))]
        if kind in ("response.completed", "response.incomplete"):
            self.finished = True
            r = ev.get("response") or {}
            return [UsageEv(usage_from_responses(r.get("usage"))), Finish(_finish(r, self._has_calls))]
        if kind in ("response.failed", "error"):
            err = ev.get("error") or (ev.get("response") or {}).get("error") or ev
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise UpstreamError(f"openai upstream sent an error event: {msg}", kind="transient")
        return []  # other events (reasoning, built-in tool progress) carry nothing canonical


def is_responses_event(chunk: dict) -> bool:
    kind = chunk.get("type")
    return isinstance(kind, str) and (kind.startswith("response.") or kind == "error")


_COUNTED = ("input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "reasoning", "truncation")


def input_tokens_request(req: ChatRequest, target: Target, base: str) -> UpstreamRequest:
    """``POST {base}/responses/input_tokens``: the upstream's own count of a request's input."""
    assert req.responses is not None
    body = {k: req.responses[k] for k in _COUNTED if k in req.responses}
    body["model"] = target.upstream_model
    headers = {"content-type": "application/json", **target.headers}
    if target.api_key:
        headers["authorization"] = f"Bearer {target.api_key}"
    return UpstreamRequest("POST", f"{base}/responses/input_tokens", headers, orjson.dumps(body))


def parse_input_tokens(body: bytes) -> int:
    """The count of an ``input_tokens`` answer; raises ``UpstreamError`` when it has none."""
    try:
        data = orjson.loads(body)
        count = data["input_tokens"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise malformed("openai", "the input_tokens answer has no input_tokens") from None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise malformed("openai", "input_tokens is not a count")
    return count
