"""Canonical cache keys: a hash of everything that can change the answer, under a scope.

A key reads ``<scope hash>.<model hash>.<request hash>`` so a scope or a model can be dropped
from any layer by prefix. The request hash covers the model (or route) asked for, the
messages (text-only part lists read as their text, ``cache_control`` markers left out: they
change the bill, not the answer), tools, tool_choice, response_format and every sampling
parameter (``cache_control`` on tools left out too). ``params_hash`` is the same without the
messages: the semantic index only compares prompts whose model and parameters are equal.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, NamedTuple

import orjson

from ..core.types import ChatRequest


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


def _plain(messages: list[dict[str, Any]]) -> bool:
    for m in messages:
        if m.get("content").__class__ is not str or not m.keys() <= _PLAIN:
            return False
    return True


def canonical_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if _plain(messages):
        return messages  # the common case: already canonical, nothing to copy
    out = []
    for m in messages:
        c = {k: v for k, v in m.items() if k not in ("content", "cache_control", "name") or k == "name" and v}
        c["content"] = canonical_content(m.get("content"))
        out.append(c)
    return out


class CacheKey(NamedTuple):
    key: str  # the entry's key in every layer
    scope: str  # the tenant scope (``team:x``, ``key:y``, ``global``)
    scope_hash: str
    model_hash: str


@functools.lru_cache(maxsize=4096)
def scope_hash(scope: str) -> str:
    return short_hash("scope:" + scope)


@functools.lru_cache(maxsize=1024)
def model_hash(model: str) -> str:
    return short_hash("model:" + model)


def _tools(tools: list[dict[str, Any]]) -> Any:
    if any("cache_control" in t for t in tools):
        return [{k: v for k, v in t.items() if k != "cache_control"} for t in tools]
    return tools


def _params(req: ChatRequest) -> tuple[Any, ...]:
    """Everything but the messages that can change the answer, in a fixed order (a tuple: no
    key sorting at the top level; nested objects are sorted by ``OPT_SORT_KEYS``). Numbers
    as floats: a temperature of 0 and one of 0.0 are the same request."""
    t, p = req.temperature, req.top_p
    return (
        req.model,
        _tools(req.tools) if req.tools else None,
        req.tool_choice,
        req.response_format,
        req.extra or None,
        None if t is None else float(t),
        None if p is None else float(p),
        req.max_tokens,
        req.stop,
        req.seed,
        req.parallel_tool_calls,
        None if req.kind == "chat" else req.kind,  # an embedding or completion of the same text is another answer
    )


_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def make_key(req: ChatRequest, scope: str) -> CacheKey:
    """The entry key: one serialisation of the parsed request (no copy of it, no model
    object) and one BLAKE2b digest, on every cacheable request's path."""
    raw = orjson.dumps((_params(req), canonical_messages(req.messages)), option=_OPTS)
    sh, mh, prefix = _prefix(scope, req.model)
    return CacheKey(prefix + hashlib.blake2b(raw, digest_size=20).hexdigest(), scope, sh, mh)


@functools.lru_cache(maxsize=4096)
def _prefix(scope: str, model: str) -> tuple[str, str, str]:
    sh, mh = scope_hash(scope), model_hash(model)
    return sh, mh, f"{sh}.{mh}."


def params_hash(req: ChatRequest, scope_hash: str) -> str:
    """The scope, model and parameters without the messages: the semantic index's group (only
    computed for requests that read or feed it)."""
    raw = orjson.dumps(_params(req), option=_OPTS)
    return hashlib.blake2b(scope_hash.encode() + raw, digest_size=12).hexdigest()


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
