"""The Responses API front's output: canonical answers as ``response`` objects, and a stream as
the Responses event sequence the OpenAI SDK accumulates (``response.created``,
``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``,
``response.output_text.delta``/``.done``, ``response.function_call_arguments.delta``/``.done``,
``response.output_item.done``, ``response.completed``; an in-band failure is ``error`` then
``response.failed``). Pure data, no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..core.errors import GatewayError
from ..core.types import ChatResponse, Finish, TextDelta, ToolCallDelta, UsageEvent
from ..core.usage import Usage
from .codec import ReplyFacts

# Request fields a response object echoes, with their defaults.
ECHO: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "temperature": 1.0,
    "top_p": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "text": {"format": {"type": "text"}},
    "truncation": "disabled",
    "user": None,
    "metadata": {},
    "store": True,
    "reasoning": {"effort": None, "summary": None},
}


def response_id(request_id: str) -> str:
    """The response id of a request: ``resp_`` and the request id's time-sortable part."""
    return "resp_" + request_id.removeprefix("req_")


def usage_object(u: Usage, cost_usd: float | None = None) -> dict:
    out: dict[str, Any] = {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_creation_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input_tokens + u.output_tokens,
    }
    if cost_usd is not None:
        out["cost_usd"] = round(cost_usd, 10)
    return out


def message_item(item_id: str, text: str, status: str = "completed") -> dict:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] if status else [],
    }


def call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def output_items(resp: ChatResponse, rid: str) -> list[dict]:
    """The output items of an answer: the upstream's own when it spoke the Responses API."""
    if resp.output_items is not None:
        return resp.output_items
    key = rid.removeprefix("resp_")
    items = []
    if resp.content or not resp.tool_calls:
        items.append(message_item(f"msg_{key}", resp.content or ""))
    for i, tc in enumerate(resp.tool_calls):
        items.append(call_item(f"fc_{key}_{i}", tc.id or f"call_{key}_{i}", tc.name, tc.arguments))
    return items


@dataclass(slots=True)
class ResponseShape:
    """What a response object says beyond its output: the request's echoed fields."""

    echo: dict[str, Any] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))

    def object(
        self, rid: str, model: str, output: list[dict], status: str, usage: dict | None, finish: str = "stop"
    ) -> dict:
        obj: dict[str, Any] = {
            "id": rid,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": model,
            "output": output,
            "usage": usage,
        }
        for k, default in ECHO.items():
            obj[k] = self.echo.get(k, default) if self.echo.get(k) is not None else default
        if status == "incomplete":
            obj["incomplete_details"] = {
                "reason": "content_filter" if finish == "content_filter" else "max_output_tokens"
            }
        return obj


def status_of(finish: str) -> str:
    return "incomplete" if finish in ("length", "content_filter") else "completed"


def render_response(resp: ChatResponse, facts: ReplyFacts, shape: ResponseShape) -> dict:
    """The ``response`` object of a complete answer."""
    rid = response_id(facts.request_id)
    return shape.object(
        rid,
        facts.model,
        output_items(resp, rid),
        status_of(resp.finish_reason),
        usage_object(resp.usage, facts.cost_usd),
        resp.finish_reason,
    )


def error_object(err: GatewayError) -> dict:
    """A failed response's ``error``: OpenAI's code when the error has one."""
    return {"code": err.code or "server_error", "message": err.message}


def sse(data: dict) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class ResponseStreamEncoder:
    """Canonical events as the Responses event sequence, for one streamed answer (a
    ``StreamEncoder``). ``final(cost)`` is the completed response object, so the route can store
    it before ``end`` sends ``response.completed``."""

    def __init__(self, facts: ReplyFacts, shape: ResponseShape) -> None:
        self.facts, self.shape = facts, shape
        self.rid = response_id(facts.request_id)
        self._key = self.rid.removeprefix("resp_")
        self._seq = 0
        self._started = False
        self._items: list[dict] = []  # every output item so far, in order
        self._text: int | None = None  # output index of the open message item
        self._calls: dict[int, int] = {}  # tool-call index -> output index
        self._open: set[int] = set()  # output indexes not done yet
        self._finish = "stop"
        self._usage = Usage()

    def _ev(self, kind: str, **data: Any) -> bytes:
        out = sse({"type": kind, "sequence_number": self._seq, **data})
        self._seq += 1
        return out

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        snap = self.shape.object(self.rid, self.facts.model, [], "in_progress", None)
        return self._ev("response.created", response=snap) + self._ev("response.in_progress", response=snap)

    def _add(self, item: dict) -> tuple[int, bytes]:
        index = len(self._items)
        self._items.append(item)
        self._open.add(index)
        added = {**item, "status": "in_progress"}
        if item["type"] == "message":
            added["content"] = []
        return index, self._ev("response.output_item.added", output_index=index, item=added)

    def _close(self, index: int) -> bytes:
        if index not in self._open:
            return b""
        self._open.discard(index)
        item = self._items[index]
        out = b""
        if item["type"] == "message":
            part = item["content"][0]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            out += self._ev("response.output_text.done", **where, text=part["text"], logprobs=[])
            out += self._ev("response.content_part.done", **where, part=part)
            if self._text == index:
                self._text = None
        else:
            out += self._ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        return out + self._ev("response.output_item.done", output_index=index, item=item)

    def _text_delta(self, text: str) -> bytes:
        out = b""
        if self._text is None:
            item = message_item(f"msg_{self._key}_{len(self._items)}", "")
            self._text, out = self._add(item)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._ev(
                "response.content_part.added", item_id=item["id"], output_index=self._text, content_index=0, part=part
            )
        item = self._items[self._text]
        item["content"][0]["text"] += text
        return out + self._ev(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=self._text,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _call_delta(self, ev: ToolCallDelta) -> bytes:
        out = b""
        index = self._calls.get(ev.index)
        if index is None:
            if self._text is not None:
                out += self._close(self._text)
            n = len(self._items)
            item = call_item(f"fc_{self._key}_{n}", ev.id or f"call_{self._key}_{n}", ev.name or "", "")
            index, added = self._add(item)
            self._calls[ev.index] = index
            out += added
        item = self._items[index]
        if ev.name and not item["name"]:
            item["name"] = ev.name
        if ev.arguments:
            item["arguments"] += ev.arguments
            out += self._ev(
                "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=ev.arguments
            )
        return out

    def render(self, ev: Any) -> bytes:
        out = self._start()
        if isinstance(ev, TextDelta) and ev.text:
            out += self._text_delta(ev.text)
        elif isinstance(ev, ToolCallDelta):
            out += self._call_delta(ev)
        elif isinstance(ev, Finish):
            self._finish = ev.reason
        elif isinstance(ev, UsageEvent):
            self._usage = ev.usage
        return out

    def final(self, cost_usd: float) -> dict:
        """The finished response object (every open item done)."""
        items = [dict(i, status="completed") for i in self._items] or [message_item(f"msg_{self._key}_0", "")]
        return self.shape.object(
            self.rid,
            self.facts.model,
            items,
            status_of(self._finish),
            usage_object(self._usage, cost_usd),
            self._finish,
        )

    def end(self, cost_usd: float) -> bytes:
        out = self._start()
        if not self._items:  # an empty answer is still one (empty) message
            out += self._text_delta("")
        for index in sorted(self._open):
            out += self._close(index)
        final = self.final(cost_usd)
        kind = "response.completed" if final["status"] == "completed" else "response.incomplete"
        return out + self._ev(kind, response=final)

    def error(self, err: GatewayError) -> bytes:
        out = self._start()
        out += self._ev("error", code=err.code or "server_error", message=err.message, param=err.param)
        failed = self.shape.object(self.rid, self.facts.model, list(self._items), "failed", None)
        failed["error"] = error_object(err)
        return out + self._ev("response.failed", response=failed)
