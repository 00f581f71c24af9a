"""The ``cache:`` section (global) and the per-route ``cache:`` overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import _Frozen

CacheScope = Literal["key", "team", "global"]


class CacheConfig(_Frozen):
    """The response cache (see docs/cache.md): exact first, then semantic when asked for."""

    enabled: bool = Field(False, description="Turn the response cache on.")
    layers: list[str] = Field(
        default_factory=lambda: ["memory://"],
        description=(
            "Storage layers read in order: `memory://` (an LRU bounded by `memory_max_bytes`), "
            "`redis://...` (shared by replicas), `database` (the request-log database: sqlite or postgresql)."
        ),
    )
    memory_max_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Size cap of the memory layer, in bytes.")
    scope: CacheScope = Field("team", description="Who shares entries: the key, its team (else the key), everyone.")
    ttl_s: float = Field(3600.0, gt=0, description="Lifetime of an exact entry, in seconds.")
    semantic: bool = Field(False, description="Also look up the nearest earlier prompt on an exact miss.")
    semantic_threshold: float = Field(0.92, gt=0, le=1, description="Cosine similarity a semantic hit needs.")
    semantic_ttl_s: float = Field(300.0, gt=0, description="How long an answer may serve similar prompts, in seconds.")
    semantic_max_messages: int = Field(
        2, ge=1, description="Longest conversation (messages, system included) the semantic cache considers."
    )
    semantic_max_entries: int = Field(200_000, gt=0, description="Prompts the semantic index keeps per scope.")
    semantic_rebuild_max: int = Field(
        100_000, ge=0, description="Prompts read back into the semantic index from Redis or the database at start."
    )
    embedder: str = Field("hash", description="`hash` (hashed n-grams) or `minilm` (the `embed` extra).")
    cache_sampled: bool = Field(False, description="Also cache answers to requests with temperature > 0.")
    coalesce: bool = Field(True, description="Identical cacheable requests in flight share one upstream call.")
    hits_count_in_budgets: bool = Field(
        False, description="Charge a hit's replayed tokens and cost to token and cost budgets (default: only rpm)."
    )
    index_max_keys: int = Field(
        100_000,
        gt=0,
        description="Database-layer keys remembered in memory (a miss then costs no database read); "
        "past it the oldest are forgotten and their entries become misses.",
    )
    redis_timeout_ms: float = Field(50.0, gt=0, description="Longest wait on Redis before it is skipped.")
    redis_retry_s: float = Field(2.0, gt=0, description="After a Redis failure, skip Redis for this long.")
    index_refresh_s: float = Field(5.0, gt=0, description="How often the keys other replicas wrote are picked up.")
    provider_prompt_caching: Literal["off", "pass", "auto"] = Field(
        "pass",
        description="Anthropic `cache_control` markers: `pass` the client's on, `auto` also add them, `off` drop them.",
    )

    @field_validator("layers")
    @classmethod
    def _layers_ok(cls, v: list[str]) -> list[str]:
        for layer in v:
            if not (layer.startswith(("memory://", "redis://", "rediss://")) or layer == "database"):
                raise ValueError(f"unknown cache layer {layer!r}: use memory://, redis://host:port/db or database")
        return v


class RouteCacheConfig(_Frozen):
    """A route's (or model's) cache overrides; null fields keep the global ``cache:`` value."""

    enabled: bool | None = Field(None, description="false: never cache this route.")
    scope: CacheScope | None = Field(None, description="Who shares this route's entries.")
    ttl_s: float | None = Field(None, gt=0, description="Exact entry lifetime for this route, in seconds.")
    semantic: bool | None = Field(None, description="Semantic lookups for this route.")
    semantic_threshold: float | None = Field(None, gt=0, le=1, description="Similarity a semantic hit needs.")
    semantic_ttl_s: float | None = Field(None, gt=0, description="Semantic entry lifetime, in seconds.")
