"""The contract every cache storage layer implements (memory, Redis, the database).

Values are opaque bytes (a ``CachedAnswer``); ``Meta`` says what deleting by scope, model or
filling request needs. Every method of a slow layer may raise ``LayerDown``; the service then
serves on without it. ``semantic_entries()`` feeds the semantic index's rebuild. ``keys()`` lists what a layer holds (with expiry), so the service keeps
an in-memory index of the slow layers and a miss never costs a round trip to them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import NamedTuple


class LayerDown(Exception):
    """The layer could not answer in time (down, slow, refused)."""


class Meta(NamedTuple):
    scope_hash: str
    model: str
    request_id: str
    group: str = ""  # the semantic group when the entry also answers similar prompts
    semantic_until: float = 0.0  # until when it does (unix seconds)


@dataclass(slots=True)
class Selector:
    """What ``DELETE /v1/cache`` removes: every field given must match (none given: everything)."""

    scope_hash: str | None = None
    model_hash: str | None = None
    key: str | None = None
    request_id: str | None = None

    def prefix(self) -> str:
        if self.scope_hash is None:
            return ""
        return self.scope_hash + "." + (self.model_hash + "." if self.model_hash else "")

    def matches(self, key: str, meta: Meta | None) -> bool:
        if self.key is not None and key != self.key:
            return False
        if self.scope_hash is not None and not key.startswith(self.scope_hash + "."):
            return False
        if self.model_hash is not None and key.split(".")[1:2] != [self.model_hash]:
            return False
        return not (self.request_id is not None and (meta is None or meta.request_id != self.request_id))


@dataclass(slots=True)
class LayerStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    errors: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class CacheLayer(ABC):
    name: str = "layer"
    slow: bool = True  # read through the in-memory index, written in the background

    def __init__(self) -> None:
        self.stats = LayerStats()

    async def start(self) -> None:
        """Connect and prepare (tables); a slow layer that cannot is marked down, not fatal."""

    async def close(self) -> None:
        """Release connections; idempotent."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    @abstractmethod
    async def set(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""

    @abstractmethod
    async def delete(self, sel: Selector) -> int:
        """Remove what ``sel`` matches; the number removed (a layer that cannot count says 0)."""

    @abstractmethod
    async def keys(self, since: float = 0.0) -> list[tuple[str, float]]:
        """``(key, expires_at)`` of live entries written at or after ``since`` (unix seconds)."""

    @abstractmethod
    async def size(self) -> tuple[int, int]:
        """(entries, bytes) held now."""

    async def semantic_entries(self, limit: int) -> list[tuple[str, bytes]]:
        """``(key, value)`` of at most ``limit`` live entries that still answer similar prompts
        (``Meta.semantic_until`` in the future), newest first: what rebuilds the semantic
        index after a restart. A layer that does not outlive the process returns none."""
        return []
