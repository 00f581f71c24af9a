"""The cache service: the layers in order, the index of the slow layers, the semantic index,
the in-flight table and the counters. Long-lived (it outlives config swaps).

Read path: memory (no await on a hit), then each slow layer: Redis is asked directly (it is
shared; a replica cannot know what the others wrote), the database only for keys in the
in-memory index (loaded at start, refreshed every ``index_refresh_s`` with the keys other
replicas wrote), so a miss costs no database round trip. A hit in a lower layer is filled
back into the layers above it. Write path: memory before the answer returns; Redis and the
database in the background.

The semantic index lives in this process; at start it is rebuilt in the background from the
slow layers' entries that still answer similar prompts (at most ``semantic_rebuild_max``,
newest first, embedded in small batches with the event loop served in between); ``start``
waits for that at most ``REBUILD_WAIT_S``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import CacheConfig
from ..storage.db import Database
from .coalesce import Flights
from .db_layer import DatabaseLayer
from .entry import CachedAnswer
from .key_index import KeyIndex
from .layer import CacheLayer, LayerDown, Meta, Selector
from .memory import MemoryLayer
from .redis_layer import RedisLayer

if TYPE_CHECKING:  # numpy comes with these: imported when a semantic index is first built
    from .semantic import SemanticIndex

log = logging.getLogger("faregate.cache")
REBUILD_WAIT_S = 0.5  # how long start() waits for the semantic rebuild before serving without it
REBUILD_BATCH = 128  # prompts embedded between two turns of the event loop


@dataclass(slots=True)
class Counts:
    hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    saved_usd: float = 0.0

    def add(self, other: Counts) -> Counts:
        self.hits += other.hits
        self.semantic_hits += other.semantic_hits
        self.misses += other.misses
        self.saved_usd += other.saved_usd
        return self

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
    # One counter per (model, key id): a request bumps one; totals are summed when asked.
    counts: dict[tuple[str, str], Counts] = field(default_factory=dict)
    # key -> expiry, per slow layer that lists its keys (the database): what is worth a read.
    index: dict[str, KeyIndex] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _refresher: asyncio.Task[None] | None = None
    _rebuild: asyncio.Task[int] | None = None
    _indexed_at: float = 0.0
    purges: Any = None  # a PurgeSync when a database is shared by replicas (``purge_sync.py``)
    # Looked up once: the hot path reads these on every request.
    memory: MemoryLayer = field(init=False)
    slow: list[CacheLayer] = field(init=False)

    def __post_init__(self) -> None:
        self.memory = next(la for la in self.layers if isinstance(la, MemoryLayer))
        self.slow = [la for la in self.layers if la.slow]

    @classmethod
    def build(
        cls, cfg: CacheConfig, database_url: str | None, shared_db: Callable[[], Awaitable[Database]] | None = None
    ) -> CacheService:
        """``shared_db``: the request log's database, which the ``database`` layer then writes through."""
        layers = [la for la in (open_layer(u, cfg, database_url, shared_db) for u in cfg.layers) if la is not None]
        if not any(isinstance(la, MemoryLayer) for la in layers):
            layers.insert(0, MemoryLayer(cfg.memory_max_bytes))
        return cls(cfg, layers)

    def semantic_index(self) -> SemanticIndex:
        if self.semantic is None:  # built on first use: most deployments never ask
            from ..routing.embed import default_embedder
            from .semantic import SemanticIndex

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
        if self.slow:
            self._rebuild = asyncio.create_task(self.rebuild_semantic(), name="cache-semantic-rebuild")
            await asyncio.wait([self._rebuild], timeout=REBUILD_WAIT_S)

    async def rebuild_semantic(self) -> int:
        """Index the slow layers' live semantic entries again (after a restart); how many."""
        by_group: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        seen = self.semantic_keys()
        for la in self.slow:
            try:
                rows = await la.semantic_entries(self.config.semantic_rebuild_max)
            except LayerDown:
                continue
            except Exception:
                log.exception("reading semantic entries from %s failed", la.name)
                continue
            now = time.time()
            for key, raw in rows:
                try:
                    ans = CachedAnswer.from_bytes(raw)
                except (ValueError, KeyError, TypeError):
                    continue
                if key not in seen and ans.group and ans.prompt and ans.semantic_until > now:
                    seen.add(key)
                    by_group[ans.group].append((key, ans.prompt, ans.semantic_until))
        n = 0
        for group, items in by_group.items():
            for i in range(0, len(items), REBUILD_BATCH):
                chunk = items[i : i + REBUILD_BATCH]
                self.semantic_index().add_many(group, [(k, t) for k, t, _ in chunk], 0, expires=[e for *_, e in chunk])
                n += len(chunk)
                await asyncio.sleep(0)
        if n:
            log.info("semantic cache index rebuilt with %d prompts", n)
        return n

    async def close(self) -> None:
        for task in (self._refresher, self._rebuild):
            if task is not None:
                task.cancel()
        self._refresher = self._rebuild = None
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
            known = self.index.get(la.name)
            if known is None:
                known = self.index[la.name] = KeyIndex(self.config.index_max_keys)
            known.update(keys)

    # -- reads ---------------------------------------------------------------------------

    def get_fast(self, key: str) -> CachedAnswer | None:
        raw = self.memory.get_now(key)
        if raw is None:
            return None
        self.memory.stats.hits += 1
        return CachedAnswer.from_bytes(raw)

    def may_be_slow_hit(self, key: str) -> bool:
        """Whether any slow layer might hold ``key`` (Redis always might; the database when
        indexed): False means a miss without awaiting anything."""
        if not self.slow:
            return False
        now = time.time()
        for la in self.slow:
            known = self.index.get(la.name)
            if known is None or known.get(key, 0.0) > now:
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
            ttl = (now + self.config.ttl_s if known is None else known.get(key, now + self.config.ttl_s)) - now
            for up in above:  # fill back
                self._write(
                    up,
                    key,
                    raw,
                    max(1.0, ttl),
                    Meta(sys.intern(key.split(".")[0]), ans.model, ans.request_id, ans.group, ans.semantic_until),
                )
            return Found(ans, la.name)
        return None

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        """Memory now; each slow layer's writer takes it in its next batch (no task per entry)."""
        raw = answer.to_bytes()
        # The scope hash interned: one string per scope, not one per entry the memory layer keeps.
        scope = sys.intern(key[: key.index(".")])
        meta = Meta(scope, answer.model, answer.request_id, answer.group, answer.semantic_until)
        self.memory.set_now(key, raw, ttl_s, meta)
        self.memory.stats.writes += 1
        for la in self.slow:
            self._write(la, key, raw, ttl_s, meta)

    def _write(self, la: CacheLayer, key: str, raw: bytes, ttl_s: float, meta: Meta) -> None:
        if isinstance(la, MemoryLayer):
            la.set_now(key, raw, ttl_s, meta)
            la.stats.writes += 1
            return
        known = self.index.get(la.name)
        if known is not None:
            known[key] = time.time() + ttl_s
        if isinstance(la, (DatabaseLayer, RedisLayer)):
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
            if isinstance(la, (DatabaseLayer, RedisLayer)):
                await la.flush()

    # -- accounting and management -------------------------------------------------------

    def count(self, kind: str, *, model: str, key_id: str | None, saved_usd: float = 0.0) -> None:
        pair = (model, key_id or "-")
        c = self.counts.get(pair)
        if c is None:
            c = self.counts[pair] = Counts()
        if kind == "miss":
            c.misses += 1
        elif kind == "exact":
            c.hits += 1
        elif kind == "semantic":
            c.semantic_hits += 1
        c.saved_usd += saved_usd

    def _summed(self, by: int | None) -> dict[str, Counts]:
        out: dict[str, Counts] = defaultdict(Counts)
        for pair, c in self.counts.items():
            out["" if by is None else pair[by]].add(c)
        return out

    async def delete(self, sel: Selector, *, local_only: bool = False) -> dict[str, int]:
        """Purge ``sel`` from every layer and tell the other replicas (``purge_sync.py``), or
        with ``local_only`` (another replica's purge) from this process's memory only."""
        out: dict[str, int] = {}
        if self.purges is not None and not local_only:
            try:
                await self.purges.announce(sel)
            except Exception:
                log.warning("cache purge not announced to the other replicas", exc_info=True)
        for la in [self.memory] if local_only else self.layers:
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
        return set() if self.semantic is None else self.semantic.keys()

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
        total = self._summed(None).get("", Counts())
        out: dict[str, Any] = {"enabled": self.config.enabled, **total.as_dict()}
        out["coalesced"] = self.flights.coalesced
        out["semantic_entries"] = len(self.semantic) if self.semantic is not None else 0
        out["layers"] = layers
        if by_model:
            out["by_model"] = {m: c.as_dict() for m, c in sorted(self._summed(0).items())}
        if by_key:
            out["by_key"] = {k: c.as_dict() for k, c in sorted(self._summed(1).items())}
        return out
