"""Where the text of a request or an answer is: the one walker every guardrail stage uses.

A chat message's ``content`` (a string, or parts with a ``text``) is text; the arguments of
its ``tool_calls`` (and the legacy ``function_call``) are JSON and go through the JSON
function so they stay valid. A tool result (``role: tool``, Anthropic's ``tool_result``
translated) is a message whose content is text. A Responses-API item is a message (its
``content``), a ``function_call`` (its ``arguments``) or a ``function_call_output`` (its
``output``). The walkers return new objects; the originals are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TextFn = Callable[[str], str]


def map_content(content: Any, text: TextFn) -> Any:
    """A ``content`` value with every text passed through ``text``."""
    if isinstance(content, str):
        return text(content)
    if isinstance(content, list):
        return [
            {**p, "text": text(p["text"])} if isinstance(p, dict) and isinstance(p.get("text"), str) else p
            for p in content
        ]
    return content


def _map_call(call: Any, args: TextFn) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("arguments"), str):
        return call
    return {**call, "function": {**fn, "arguments": args(fn["arguments"])}}


def map_message(msg: dict[str, Any], text: TextFn, args: TextFn) -> dict[str, Any]:
    """A chat message with its content through ``text`` and its tool-call arguments through ``args``."""
    out = {**msg}
    if "content" in msg:
        out["content"] = map_content(msg["content"], text)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        out["tool_calls"] = [_map_call(c, args) for c in calls]
    fc = msg.get("function_call")
    if isinstance(fc, dict) and isinstance(fc.get("arguments"), str):
        out["function_call"] = {**fc, "arguments": args(fc["arguments"])}
    return out


def map_item(item: Any, text: TextFn, args: TextFn) -> Any:
    """A Responses-API input or output item with its text and arguments mapped."""
    if not isinstance(item, dict):
        return item
    kind = item.get("type")
    if kind == "function_call" and isinstance(item.get("arguments"), str):
        return {**item, "arguments": args(item["arguments"])}
    if kind == "function_call_output" and "output" in item:
        return {**item, "output": map_content(item["output"], text)}
    if "content" in item:
        return {**item, "content": map_content(item["content"], text)}
    return item


def map_input(value: Any, text: TextFn, args: TextFn) -> Any:
    """The Responses API ``input``: a string or a list of items."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [map_item(i, text, args) for i in value]
    return value


def texts(messages: list[dict[str, Any]], responses: dict[str, Any] | None = None) -> list[str]:
    """Every text and argument string of a request, in order (what a remote guardrail is shown)."""
    seen: list[str] = []

    def keep(t: str) -> str:
        if t:
            seen.append(t)
        return t

    for m in messages:
        map_message(m, keep, keep)
    if responses is not None:
        if isinstance(responses.get("instructions"), str):
            keep(responses["instructions"])
        map_input(responses.get("input"), keep, keep)
    return seen
