"""The cache service: the layers in order, the index of the slow layers, the semantic index,
the in-flight table and the counters. Long-lived (it outlives config swaps).

Read path: memory (no await on a hit), then each slow layer: Redis is asked directly (it is
shared; a replica cannot know what the others wrote), the database only for keys in the
in-memory index (loaded at start, refreshed every ``index_refresh_s`` with the keys other
replicas wrote), so a miss costs no database round trip. A hit in a lower layer is filled
back into the layers above it. Write path: memory before the answer returns; Redis and the
database in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import CacheConfig
from ..routing.embed import default_embedder
from ..storage.db import Database
from .coalesce import Flights
from .db_layer import DatabaseLayer
from .entry import CachedAnswer
from .layer import CacheLayer, LayerDown, Meta, Selector
from .memory import MemoryLayer
from .redis_layer import RedisLayer
from .semantic import SemanticIndex

log = logging.getLogger("faregate.cache")


@dataclass(slots=True)
class Counts:
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    saved_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        looked = self.hits + self.semantic_hits + self.misses
        return {
            "hits": self.hits,
            "semantic_hits": self.semantic_hits,
            "misses": self.misses,
            "hit_rate": (self.hits + self.semantic_hits) / looked if looked else 0.0,
            "saved_usd": round(self.saved_usd, 10),
        }


@dataclass(slots=True)
class Found:
    answer: CachedAnswer
    layer: str
    similarity: float | None = None


def open_layer(
    url: str, cfg: CacheConfig, database_url: str | None, shared_db: Callable[[], Awaitable[Database]] | None = None
) -> CacheLayer | None:
    if url.startswith("memory://"):
        return MemoryLayer(cfg.memory_max_bytes)
    if url.startswith(("redis://", "rediss://")):
        return RedisLayer(url, timeout_s=cfg.redis_timeout_ms / 1000, retry_s=cfg.redis_retry_s)
    if url == "database":
        if not database_url:
            log.warning("cache layer 'database' needs database_url; left out")
            return None
        return DatabaseLayer(database_url, shared=shared_db)
    raise ValueError(f"unknown cache layer {url!r}")


@dataclass
class CacheService:
    config: CacheConfig
    layers: list[CacheLayer]
    semantic: SemanticIndex | None = None
    flights: Flights = field(default_factory=Flights)
    total: Counts = field(default_factory=Counts)
    by_model: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    by_key: dict[str, Counts] = field(default_factory=lambda: defaultdict(Counts))
    # key -> expiry, per slow layer that lists its keys (the database): what is worth a read.
    index: dict[str, dict[str, float]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _refresher: asyncio.Task[None] | None = None
    _indexed_at: float = 0.0

    @classmethod
    def build(
        cls, cfg: CacheConfig, database_url: str | None, shared_db: Callable[[], Awaitable[Database]] | None = None
    ) -> CacheService:
        """``shared_db``: the request log's database, which the ``database`` layer then writes through."""
        layers = [la for la in (open_layer(u, cfg, database_url, shared_db) for u in cfg.layers) if la is not None]
        if not any(isinstance(la, MemoryLayer) for la in layers):
            layers.insert(0, MemoryLayer(cfg.memory_max_bytes))
        return cls(cfg, layers)

    @property
    def memory(self) -> MemoryLayer:
        return next(la for la in self.layers if isinstance(la, MemoryLayer))

    def semantic_index(self) -> SemanticIndex:
        if self.semantic is None:  # built on first use: most deployments never ask
            self.semantic = SemanticIndex(
                default_embedder(self.config.embedder), max_entries=self.config.semantic_max_entries
            )
        return self.semantic

    async def start(self) -> None:
        for la in self.layers:
            await la.start()
        await self._refresh_index()
        if any(isinstance(la, DatabaseLayer) for la in self.layers):
            self._refresher = asyncio.create_task(self._refresh_loop(), name="cache-index")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for la in reversed(self.layers):
            try:
                await la.close()
            except Exception:
                log.exception("closing cache layer %s failed", la.name)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.index_refresh_s)
            await self._refresh_index()

    async def _refresh_index(self) -> None:
        since, self._indexed_at = self._indexed_at, time.time() - 1.0
        for la in self.layers:
            if not isinstance(la, DatabaseLayer):
                continue
            try:
                keys = await la.keys(since)
            except LayerDown:
                continue
            self.index.setdefault(la.name, {}).update(keys)

    # -- reads ---------------------------------------------------------------------------

    def get_fast(self, key: str) -> CachedAnswer | None:
        raw = self.memory.get_now(key)
        if raw is None:
            return None
        self.memory.stats.hits += 1
        return CachedAnswer.from_bytes(raw)

    def may_be_slow_hit(self, key: str) -> bool:
        """Whether any slow layer might hold ``key`` (Redis always might; the database when indexed)."""
        now = time.time()
        for la in self.layers:
            if la.slow and (la.name not in self.index or self.index[la.name].get(key, 0.0) > now):
                return True
        return False

    async def get_slow(self, key: str) -> Found | None:
        above: list[CacheLayer] = [self.memory]
        now = time.time()
        for la in self.layers:
            if not la.slow:
                continue
            known = self.index.get(la.name)
            if known is not None and known.get(key, 0.0) <= now:
                above.append(la)
                continue
            try:
                raw = await la.get(key)
            except LayerDown:
                continue
            if raw is None:
                la.stats.misses += 1
                above.append(la)
                continue
            la.stats.hits += 1
            ans = CachedAnswer.from_bytes(raw)
            ttl = (known or {}).get(key, now + self.config.ttl_s) - now
            for up in above:  # fill back
                self._write(up, key, raw, max(1.0, ttl), Meta(key.split(".")[0], ans.model, ans.request_id))
            return Found(ans, la.name)
        return None

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        raw = answer.to_bytes()
        meta = Meta(key.split(".")[0], answer.model, answer.request_id)
        for la in self.layers:
            self._write(la, key, raw, ttl_s, meta)

    def _write(self, la: CacheLayer, key: str, raw: bytes, ttl_s: float, meta: Meta) -> None:
        if isinstance(la, MemoryLayer):
            la.set_now(key, raw, ttl_s, meta)
            la.stats.writes += 1
            return
        if la.name in self.index:
            self.index[la.name][key] = time.time() + ttl_s
        if isinstance(la, DatabaseLayer):
            if la.db is not None:  # queued for the writer's next batch: no task per entry
                la.enqueue(key, raw, ttl_s, meta)
            return
        task = asyncio.get_running_loop().create_task(self._write_slow(la, key, raw, ttl_s, meta))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_slow(self, la: CacheLayer, key: str, raw: bytes, ttl_s: float, meta: Meta) -> None:
        try:
            await la.set(key, raw, ttl_s, meta)
            if not isinstance(la, DatabaseLayer):
                la.stats.writes += 1
        except LayerDown:
            pass
        except Exception:
            log.exception("cache write to %s failed", la.name)

    async def flush(self) -> None:
        """Wait for the background writes (tests and benchmarks)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for la in self.layers:
            if isinstance(la, DatabaseLayer):
                await la.flush()

    # -- accounting and management -------------------------------------------------------

    def count(self, kind: str, *, model: str, key_id: str | None, saved_usd: float = 0.0) -> None:
        for c in (self.total, self.by_model[model], self.by_key[key_id or "-"]):
            if kind == "exact":
                c.hits += 1
            elif kind == "semantic":
                c.semantic_hits += 1
            elif kind == "miss":
                c.misses += 1
            c.saved_usd += saved_usd

    async def delete(self, sel: Selector) -> dict[str, int]:
        out: dict[str, int] = {}
        for la in self.layers:
            try:
                out[la.name] = await la.delete(sel)
            except LayerDown as exc:
                out[la.name] = 0
                log.warning("cache delete on %s failed: %s", la.name, exc)
        for known in self.index.values():
            for k in [k for k in known if sel.matches(k, None) and sel.request_id is None]:
                del known[k]
        if self.semantic is not None:
            if sel.key is None and sel.scope_hash is None and sel.model_hash is None and sel.request_id is None:
                self.semantic.clear()
            elif sel.request_id is None:
                self.semantic.drop_keys({k for k in self.semantic_keys() if sel.matches(k, None)})
        return out

    def semantic_keys(self) -> set[str]:
        if self.semantic is None:
            return set()
        return self.semantic.keys()

    async def stats(self, *, by_model: bool = False, by_key: bool = False) -> dict[str, Any]:
        layers = []
        for la in self.layers:
            try:
                entries, size = await la.size()
                up = True
            except LayerDown:
                entries, size, up = 0, 0, False
            s = la.stats
            layers.append(
                {"layer": la.name, "up": up, "entries": entries, "bytes": size, "hits": s.hits}
                | {"misses": s.misses, "writes": s.writes, "errors": s.errors}
            )
        out: dict[str, Any] = {"enabled": self.config.enabled, **self.total.as_dict()}
        out["coalesced"] = self.flights.coalesced
        out["semantic_entries"] = len(self.semantic) if self.semantic is not None else 0
        out["layers"] = layers
        if by_model:
            out["by_model"] = {m: c.as_dict() for m, c in sorted(self.by_model.items())}
        if by_key:
            out["by_key"] = {k: c.as_dict() for k, c in sorted(self.by_key.items())}
        return out
