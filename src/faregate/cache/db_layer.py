"""``database``: entries in the request-log database (SQLite or PostgreSQL), long-lived.

Writes are queued and written in batches by a background task (an answer never waits on
them); reads only happen for keys the service's in-memory index says this layer holds.
Expired rows are purged by the same task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..storage.db import Database
from .layer import CacheLayer, LayerDown, Meta, Selector

log = logging.getLogger("faregate.cache")

UPSERT = (
    "INSERT INTO cache_entries (key, scope_hash, model, request_id, value, created_at, expires_at, "
    "semantic_group, semantic_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, request_id = excluded.request_id, "
    "created_at = excluded.created_at, expires_at = excluded.expires_at, "
    "semantic_group = excluded.semantic_group, semantic_until = excluded.semantic_until"
)
SEMANTIC = (
    "SELECT key, value FROM cache_entries WHERE semantic_until > $1 AND expires_at > $1 "
    "ORDER BY semantic_until DESC LIMIT $2"
)
PURGE_EVERY_S = 60.0


class DatabaseLayer(CacheLayer):
    name = "database"

    def __init__(
        self,
        url: str,
        *,
        batch: int = 512,
        interval_s: float = 0.5,
        shared: Callable[[], Awaitable[Database]] | None = None,
    ) -> None:
        super().__init__()
        # ``shared``: the request log's open database (not closed here); else one of our own.
        self._shared = shared
        # One transaction per ``interval_s``: a commit (and a wake-up of the writer) per entry
        # would cost the event loop more than the entries themselves.
        self.url, self.batch, self.interval_s = url, batch, interval_s
        self.db: Database | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # set when rows are pending
        self._now = asyncio.Event()  # set by ``flush``: write without waiting for the interval
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        try:
            self.db = await (self._shared() if self._shared is not None else Database.open(self.url))
            await self.db.migrate("cache")
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            log.warning("cache database layer unavailable (%s): serving without it", exc)
            self.db = None
            return
        self._task = asyncio.create_task(self._writer(), name="cache-db-writer")

    async def close(self) -> None:
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - a cache layer never fails a request
                pass
            self._task = None
        if self.db is not None:
            db, self.db = self.db, None
            if self._shared is None:
                await db.close()

    def _need(self) -> Database:
        if self.db is None:
            raise LayerDown("the cache database is not open")
        return self.db

    async def get(self, key: str) -> bytes | None:
        db = self._need()
        try:
            row = await db.fetchrow("SELECT value, expires_at FROM cache_entries WHERE key = $1", key)
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            self.stats.errors += 1
            raise LayerDown(str(exc)) from None
        if row is None or float(row["expires_at"]) <= time.time():
            return None
        v = row["value"]
        return v.encode() if isinstance(v, str) else bytes(v)

    async def set(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        self._need()
        self.enqueue(key, value, ttl_s, meta)

    def enqueue(self, key: str, value: bytes, ttl_s: float, meta: Meta) -> None:
        """``set`` without awaiting: the row joins the writer's next batch (dropped while the
        database is not open)."""
        if self.db is None:
            return
        now = time.time()
        scope, model, rid, group, until = meta
        self._pending.append((key, scope, model, rid, value.decode(), now, now + ttl_s, group, until))
        if not self._wake.is_set():
            self._idle.clear()
            self._wake.set()

    async def flush(self) -> None:
        """Wait until every pending write is in the database (tests, shutdown)."""
        if self._task is not None and not self._task.done() and not self._idle.is_set():
            self._now.set()
            await self._idle.wait()

    async def _writer(self) -> None:
        next_purge = time.monotonic() + PURGE_EVERY_S
        while True:
            await self._wake.wait()
            if not self._now.is_set():
                try:
                    await asyncio.wait_for(self._now.wait(), self.interval_s)
                except TimeoutError:
                    pass
            self._wake.clear()
            self._now.clear()
            rows, self._pending = self._pending, []
            for i in range(0, len(rows), self.batch):
                await self._write_rows(rows[i : i + self.batch])
            if time.monotonic() > next_purge:
                next_purge = time.monotonic() + PURGE_EVERY_S
                try:
                    await self._need().execute("DELETE FROM cache_entries WHERE expires_at <= $1", time.time())
                except Exception:
                    log.warning("purging expired cache entries failed", exc_info=True)
            if not self._pending:
                self._idle.set()

    async def _write_rows(self, rows: list[tuple[Any, ...]]) -> None:
        try:
            await self._need().executemany(UPSERT, rows)
            self.stats.writes += len(rows)
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            self.stats.errors += 1
            log.warning("cache database write of %d entries failed: %s", len(rows), exc)

    async def delete(self, sel: Selector) -> int:
        await self.flush()
        where, args = [], []
        if sel.key is not None:
            args.append(sel.key)
            where.append(f"key = ${len(args)}")
        if sel.request_id is not None:
            args.append(sel.request_id)
            where.append(f"request_id = ${len(args)}")
        if sel.scope_hash is not None:
            args.append(sel.scope_hash)
            where.append(f"scope_hash = ${len(args)}")
        if sel.model_hash is not None:
            args.append(f"%.{sel.model_hash}.%")
            where.append(f"key LIKE ${len(args)}")
        sql = "DELETE FROM cache_entries" + (" WHERE " + " AND ".join(where) if where else "")
        try:
            return await self._need().execute(sql, *args)
        except LayerDown:
            raise
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            raise LayerDown(str(exc)) from None

    async def keys(self, since: float = 0.0) -> list[tuple[str, float]]:
        try:
            rows = await self._need().fetch(
                "SELECT key, expires_at FROM cache_entries WHERE created_at >= $1 AND expires_at > $2",
                since,
                time.time(),
            )
        except LayerDown:
            raise
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            raise LayerDown(str(exc)) from None
        return [(r["key"], float(r["expires_at"])) for r in rows]

    async def semantic_entries(self, limit: int) -> list[tuple[str, bytes]]:
        try:
            rows = await self._need().fetch(SEMANTIC, time.time(), limit)
        except LayerDown:
            raise
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            raise LayerDown(str(exc)) from None
        return [(r["key"], r["value"].encode() if isinstance(r["value"], str) else bytes(r["value"])) for r in rows]

    async def size(self) -> tuple[int, int]:
        await self.flush()
        try:
            row = await self._need().fetchrow(
                "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(value)), 0) AS b FROM cache_entries WHERE expires_at > $1",
                time.time(),
            )
        except LayerDown:
            raise
        except Exception as exc:  # noqa: BLE001 - a cache layer never fails a request
            raise LayerDown(str(exc)) from None
        return (int(row["n"]), int(row["b"])) if row else (0, 0)
