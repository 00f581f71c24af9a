"""Anthropic prompt caching: the ``cache_control`` breakpoints of one Messages body.

``pass`` keeps the client's markers (at most ``MAX_BREAKPOINTS``, the provider's limit: the
last ones, which cover the longest prefixes); ``off`` removes them; ``auto`` also places
markers when the client sent none: on the system prompt and on the last block before the
final user turn, each only when the prefix it closes is long enough to be cached
(``AUTO_MIN_CHARS``, about Anthropic's 1024-token minimum). Called per attempt, so a
fallback to another model or provider gets its own plan.
"""

from __future__ import annotations

from typing import Any

MAX_BREAKPOINTS = 4
AUTO_MIN_CHARS = 4096
EPHEMERAL = {"type": "ephemeral"}


def _blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every block that may carry a marker, in prompt order (tools, system, messages)."""
    out: list[dict[str, Any]] = list(body.get("tools") or [])
    if isinstance(body.get("system"), list):
        out += body["system"]
    for m in body.get("messages") or []:
        if isinstance(m.get("content"), list):
            out += m["content"]
    return out


def _chars(block: dict[str, Any]) -> int:
    return len(str(block.get("text") or block.get("content") or block.get("input_schema") or ""))


def _as_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(msg.get("content"), str):
        msg["content"] = [{"type": "text", "text": msg["content"]}]
    blocks: list[dict[str, Any]] = msg["content"]
    return blocks


def _auto(body: dict[str, Any]) -> None:
    total = sum(len(t.get("description", "")) + _chars(t) for t in body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = system = [{"type": "text", "text": system}]
    if isinstance(system, list) and system:
        total += sum(_chars(b) for b in system)
        if total >= AUTO_MIN_CHARS:
            system[-1]["cache_control"] = dict(EPHEMERAL)
    msgs = body.get("messages") or []
    if len(msgs) >= 2:
        total += sum(_chars(b) for m in msgs[:-1] for b in _as_blocks(m))
        if total >= AUTO_MIN_CHARS:
            _as_blocks(msgs[-2])[-1]["cache_control"] = dict(EPHEMERAL)


def apply(body: dict[str, Any], mode: str) -> None:
    """Plan the breakpoints of ``body`` in place (see the module docstring)."""
    blocks = _blocks(body)
    marked = [b for b in blocks if "cache_control" in b]
    if mode == "off":
        for b in marked:
            del b["cache_control"]
        return
    if not marked and mode == "auto":
        _auto(body)
        return
    for b in marked[:-MAX_BREAKPOINTS]:
        del b["cache_control"]
