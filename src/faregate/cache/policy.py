"""What may be cached, for how long, shared by whom: the global ``cache:`` section merged with
a route's overrides, and which requests the semantic cache may answer."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from ..config import CacheConfig, RouteCacheConfig
from ..core.types import ChatRequest, content_text
from .keys import canonical_messages


@dataclass(frozen=True, slots=True)
class Policy:
    enabled: bool
    scope: str
    ttl_s: float
    semantic: bool
    threshold: float
    semantic_ttl_s: float


def policy_for(cfg: CacheConfig, route: RouteCacheConfig | None) -> Policy:
    def pick(name: str) -> object:
        v = getattr(route, name, None) if route is not None else None
        return getattr(cfg, name) if v is None else v

    return Policy(
        enabled=bool(pick("enabled")),
        scope=str(pick("scope")),
        ttl_s=float(pick("ttl_s")),  # type: ignore[arg-type]
        semantic=bool(pick("semantic")),
        threshold=float(pick("semantic_threshold")),  # type: ignore[arg-type]
        semantic_ttl_s=float(pick("semantic_ttl_s")),  # type: ignore[arg-type]
    )


def is_sampled(req: ChatRequest) -> bool:
    """temperature > 0 (an unset temperature counts as not sampled: most callers who want
    variety set one; ``cache.cache_sampled`` or the ``sampled`` directive covers the rest)."""
    return req.temperature is not None and req.temperature > 0


def semantic_prompt(req: ChatRequest, max_messages: int) -> tuple[str, str] | None:
    """(a hash of the conversation before the last user turn, that turn's text), or None when
    the semantic cache must not answer: tools, tool results, a long conversation, or a last
    turn that is not a user's text."""
    msgs = req.messages
    if req.kind != "chat":  # a similar text's embedding (or completion) is not this one's
        return None
    if req.tools or not msgs or len(msgs) > max_messages:
        return None
    if any(m.get("role") == "tool" or m.get("tool_calls") for m in msgs):
        return None
    last = msgs[-1]
    if last.get("role") != "user":
        return None
    text = content_text(last.get("content"))
    if not text.strip():
        return None
    before = orjson.dumps(canonical_messages(msgs[:-1]), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(before).hexdigest()[:16], text
