"""The request log: one ``RequestRecord`` per request, written in batches by one ``LogWriter``.

Gateway use::

    writer = LogWriter(config.database_url, config.log_writer, spill_path="faregate-spill.jsonl")
    await writer.start()          # never raises: an unreachable database only means queueing
    writer.append(record)         # sync, O(1), never blocks, never raises
    await writer.close()          # flushes everything (to the database, or to the spill file)

Nothing is lost: records queue in memory up to ``max_queue``; while the database is down the
overflow goes to the JSONL spill file (``log_spill``), replayed (idempotently: ids already
stored are skipped) once the database answers again. ``dropped`` counts records that could go
nowhere (the spill file itself failing); it is 0 in every test. The pacing (batch size, flush
interval, slices...) is ``LogWriterConfig``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from pathlib import Path
from typing import Any

from ..config import LogWriterConfig
from . import log_spill, rollup
from .db import Copy, Database, DatabaseUnavailable, Statement
from .log_spill import default_spill_path
from .recent_ids import RecentIds
from .request_record import COLUMNS, RequestRecord

log = logging.getLogger("faregate.request_log")


class LogWriter:
    """Bounded queue + one writer task; see the module docstring.

    ``config`` gives the pacing; the keyword arguments override one setting each (tests and
    benchmarks use them)."""

    def __init__(
        self,
        url: str,
        config: LogWriterConfig | None = None,
        *,
        batch_size: int | None = None,
        flush_interval: float | None = None,
        max_queue: int | None = None,
        spill_path: str | os.PathLike[str] | None = None,
        retry_interval: float | None = None,
        db: Database | None = None,
    ) -> None:
        cfg = config or LogWriterConfig()
        self.config = cfg
        self.url = url
        self.batch_size = cfg.batch_size if batch_size is None else batch_size
        self.flush_interval = cfg.flush_interval_s if flush_interval is None else flush_interval
        self.max_queue = cfg.max_queue if max_queue is None else max_queue
        self.retry_interval = cfg.retry_interval_s if retry_interval is None else retry_interval
        self.spill_path = Path(spill_path or cfg.spill_path or default_spill_path(url))
        self.db: Database | None = db
        self._queue: collections.deque[RequestRecord] = collections.deque()
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()  # one writer at a time: the task, or flush()/close()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self.dropped = 0
        self.written = 0
        self.spilled = 0
        self.replayed = 0
        self.batches = 0
        self.db_errors = 0
        # Recent request id -> key id, so feedback on a request still queued is accepted.
        self.recent = RecentIds(cfg.recent_ids)

    # public ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="faregate-log-writer")

    def append(self, record: RequestRecord) -> None:
        """Queue one record; never blocks, never raises."""
        try:
            if self._closed:  # a request that finished after shutdown: straight to the spill file
                self._spill([record])
                return
            self._queue.append(record)
            self.recent.add(record.id, record.key_id)
            if len(self._queue) > self.max_queue:
                # Over the bound (the database is down or slow): the oldest tenth goes to the spill
                # file in one write, so the cost per record stays small.
                self._spill(self._take(len(self._queue) - self.max_queue + max(1, self.max_queue // 10)))
            if len(self._queue) >= self.batch_size:
                self._wake.set()
        except Exception:
            self.dropped += 1
            log.exception("request log append failed")

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        return {
            "pending": self.pending,
            "written": self.written,
            "spilled": self.spilled,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "batches": self.batches,
        }

    async def flush(self) -> None:
        """Write everything queued now (and any spill file) if the database answers."""
        async with self._io:  # waits for a batch the writer task has in flight
            await self._ensure_db()
            await self._drain()

    async def _drain(self) -> None:
        await self._replay_spill()
        while self._queue:
            batch = self._take(self.batch_size)
            try:
                await self._write(batch)
            except BaseException:
                self._queue.extendleft(reversed(batch))
                raise

    async def close(self) -> None:
        """Stop the writer and flush everything: to the database, or to the spill file."""
        self._closing = True
        if self._task is not None:
            async with self._io:  # never cancel a batch mid-transaction: wait for it, then stop
                self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), timeout=self.config.close_timeout_s)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001
            log.warning(
                "request log: database unavailable at shutdown (%s); %d record(s) spilled to %s",
                exc,
                len(self._queue),
                self.spill_path,
            )
            self._spill(self._take(len(self._queue)))
        self._closed = True
        if self.db is not None:
            try:
                await self.db.close()
            except Exception:  # noqa: BLE001
                pass
            self.db = None

    # internals ------------------------------------------------------------------------------

    def _take(self, n: int) -> list[RequestRecord]:
        q = self._queue
        return [q.popleft() for _ in range(min(n, len(q)))]

    def _spill(self, records: list[RequestRecord]) -> None:
        if not records:
            return
        try:
            log_spill.append(self.spill_path, records)
            self.spilled += len(records)
        except OSError:
            self.dropped += len(records)
            log.exception("request log: could not spill %d record(s) to %s", len(records), self.spill_path)

    async def database(self) -> Database:
        """The writer's open database, for another concern that must write the same one (the
        response cache): on SQLite one connection's writes queue behind each other's instead of
        competing for the file's write lock."""
        return await self._ensure_db()

    async def _ensure_db(self) -> Database:
        if self.db is None:
            db = await Database.open(self.url)
            db.tune_bulk_writes(self.config)
            try:
                await db.migrate("request_log")
            except Exception:
                await db.close()
                raise
            self.db = db
        return self.db

    async def _write(self, batch: list[RequestRecord]) -> None:
        db = await self._ensure_db()
        stmts = await _prepare(batch, self.config.prepare_slice)
        try:
            try:
                await db.batch(stmts)
            except DatabaseUnavailable:
                raise
            except Exception:
                # A duplicate id (a batch whose commit was acknowledged too late, then retried):
                # write only the records not stored yet, so rows and rollups count each once.
                fresh = await self._not_stored(db, batch)
                if len(fresh) == len(batch):
                    raise
                if fresh:
                    await db.batch(await _prepare(fresh, self.config.prepare_slice))
        except DatabaseUnavailable:
            # The connection is likely gone: reopen on the next attempt.
            self.db = None
            try:
                await db.close()
            except Exception:  # noqa: BLE001
                pass
            raise
        self.written += len(batch)
        self.batches += 1

    async def _not_stored(self, db: Database, records: list[RequestRecord]) -> list[RequestRecord]:
        seen: set[str] = set()
        step = self.config.lookup_chunk
        for i in range(0, len(records), step):
            ids = [r.id for r in records[i : i + step]]
            marks = ", ".join(f"${j + 1}" for j in range(len(ids)))
            seen |= {r["id"] for r in await db.fetch(f"SELECT id FROM request_log WHERE id IN ({marks})", *ids)}
        out, dup = [], set()
        for r in records:
            if r.id not in seen and r.id not in dup:
                dup.add(r.id)
                out.append(r)
        return out

    async def _replay_spill(self) -> None:
        if not log_spill.pending(self.spill_path):
            return
        await self._ensure_db()  # only move files around once the database answers
        # None also when another writer (another worker) is replaying: it takes what is left.
        while (claim := log_spill.take(self.spill_path)) is not None:
            with claim:  # a failed replay lets the copy go, for the next take
                records = claim.records
                for i in range(0, len(records), self.batch_size):
                    # Idempotent: ids already stored (a crash mid-replay) are skipped, so neither
                    # the row nor its rollup counts twice.
                    chunk = await self._not_stored(await self._ensure_db(), records[i : i + self.batch_size])
                    if chunk:
                        await self._write(chunk)
                    self.replayed += len(chunk)
                claim.done()
            log.info("request log: replayed %d spilled record(s)", len(records))

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                async with self._io:
                    await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down: keep queueing, retry later
                self.db_errors += 1
                if self.db_errors == 1 or self.db_errors % 100 == 0:
                    log.warning("request log: database unavailable (%s); %d record(s) queued", exc, len(self._queue))
                await asyncio.sleep(self.retry_interval)


async def _prepare(batch: list[RequestRecord], slice_size: int = LogWriterConfig().prepare_slice) -> list[Statement]:
    """The batch's rows and rollup upserts, built on the event loop a slice at a time.

    A few microseconds per record (``bench/bench_log_writer.py``). On the loop rather than in a
    worker thread: Python work in a second thread competes with the request path for the GIL
    on the same core, and the hand-offs cost more than the work. Slices of ``slice_size``
    records keep each pause of the loop well under a millisecond."""
    values: list[tuple[Any, ...]] = []
    acc = rollup.Accumulator()
    for i in range(0, len(batch), slice_size):
        if i:
            await asyncio.sleep(0)
        part = batch[i : i + slice_size]
        values += [r.to_values() for r in part]
        acc.add(part)
    return [Copy("request_log", COLUMNS, values), *acc.statements()]
