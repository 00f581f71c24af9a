"""Canonical cache keys: a hash of everything that can change the answer, under a scope.

A key reads ``<scope hash>.<model hash>.<request hash>`` so a scope or a model can be dropped
from any layer by prefix. The request hash covers the model (or route) asked for, the
messages (text-only part lists read as their text, ``cache_control`` markers left out: they
change the bill, not the answer), tools, tool_choice, response_format and every sampling
parameter. ``params`` is the same hash without the messages: the semantic index only compares
prompts whose model and parameters are equal.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..core.types import ChatRequest

SAMPLING = ("temperature", "top_p", "max_tokens", "stop", "seed", "parallel_tool_calls")


def short_hash(text: str, n: int = 12) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def _part(p: Any) -> Any:
    if isinstance(p, dict) and "cache_control" in p:
        return {k: v for k, v in p.items() if k != "cache_control"}
    return p


def canonical_content(content: Any) -> Any:
    """A list of text parts is the same prompt as their text; other lists keep their parts."""
    if isinstance(content, list):
        parts = [_part(p) for p in content]
        if all(isinstance(p, dict) and p.get("type") == "text" and set(p) <= {"type", "text"} for p in parts):
            return "".join(str(p.get("text", "")) for p in parts)
        return parts
    return content


_PLAIN = frozenset(("role", "content"))


def canonical_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if all(isinstance(m.get("content"), str) and m.keys() <= _PLAIN for m in messages):
        return messages  # the common case: already canonical, nothing to copy
    out = []
    for m in messages:
        c = {k: v for k, v in m.items() if k not in ("content", "cache_control", "name") or k == "name" and v}
        c["content"] = canonical_content(m.get("content"))
        out.append(c)
    return out


@dataclass(frozen=True, slots=True)
class CacheKey:
    key: str  # the entry's key in every layer
    scope: str  # the tenant scope (``team:x``, ``key:y``, ``global``)
    scope_hash: str
    model_hash: str
    params: str  # hash of the model and parameters without the messages (the semantic group)


@functools.lru_cache(maxsize=4096)
def scope_hash(scope: str) -> str:
    return short_hash("scope:" + scope)


@functools.lru_cache(maxsize=1024)
def model_hash(model: str) -> str:
    return short_hash("model:" + model)


def make_key(req: ChatRequest, scope: str) -> CacheKey:
    params: dict[str, Any] = {
        "model": req.model,
        "tools": req.tools,
        "tool_choice": req.tool_choice,
        "response_format": req.response_format,
        "extra": req.extra or None,
    }
    if req.kind != "chat":  # an embedding or a completion of the same text is another answer
        params["kind"] = req.kind
    for name in SAMPLING:
        params[name] = getattr(req, name)
    params_raw = orjson.dumps(params, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    body = orjson.dumps(canonical_messages(req.messages), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    digest = hashlib.sha256(params_raw + b"\x00" + body).hexdigest()[:40]
    sh, mh = scope_hash(scope), model_hash(req.model)
    return CacheKey(
        key=f"{sh}.{mh}.{digest}",
        scope=scope,
        scope_hash=sh,
        model_hash=mh,
        params=hashlib.sha256(sh.encode() + params_raw).hexdigest()[:24],
    )


def scope_of(mode: str, key_id: str | None, team: str | None) -> str:
    """The tenant scope: ``team`` (the default) falls back to the key; no key at all (an open
    gateway) is one anonymous scope."""
    if mode == "global":
        return "global"
    if key_id is None:
        return "anonymous"
    if mode == "team" and team:
        return f"team:{team}"
    return f"key:{key_id}"
