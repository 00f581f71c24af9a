"""SQLite bulk writes on the event loop: the request log's batches, a slice at a time.

The request log writes hundreds of rows a second. In a worker thread, sqlite3 releases and
re-takes the GIL around every row, so on the gateway's one core each row costs two GIL
hand-offs and context switches against the request path: measured, that doubled what the log
cost per request. On the loop the same rows cost only SQLite's own work. The loop is never
blocked long: ``loop_slice_rows`` rows at a time, then it serves requests again; a held write
lock is waited for with asyncio sleeps (busy_timeout 0 on this connection, giving up after
``busy_give_up_s``), and checkpoints (the fsyncs) run in the backend's writer thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..config import LogWriterConfig
from .db import DatabaseUnavailable

# (SQL with ``?N`` placeholders, its rows)
SqliteStatement = tuple[str, Sequence[Sequence[Any]]]


def unavailable(exc: sqlite3.OperationalError) -> bool:
    """A transport-like failure (the file is locked, gone or failing), not a wrong statement."""
    msg = str(exc)
    return "locked" in msg or "unable to open" in msg or "disk I/O" in msg


class LoopBatchWriter:
    """One connection used on the event loop only, one batch (transaction) at a time on it.

    ``checkpoint`` runs a passive WAL checkpoint elsewhere (the backend's writer thread)."""

    def __init__(self, path: str, checkpoint: Callable[[], Awaitable[Any]]) -> None:
        self.path = path
        self.config = LogWriterConfig()
        self._checkpoint = checkpoint
        self._conn: sqlite3.Connection | None = None
        self._tx = asyncio.Lock()  # a second batch must not start inside the first's transaction
        self._since_checkpoint = 0
        self.closed = False

    async def write(self, stmts: list[SqliteStatement]) -> None:
        """All of ``stmts`` in one transaction, the loop served between slices."""
        async with self._tx:
            await self._write(stmts)

    def close(self) -> None:
        self.closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _write(self, stmts: list[SqliteStatement]) -> None:
        if self.closed:
            raise DatabaseUnavailable("database is closed")
        try:
            c = self._connection()
            await self._retry_busy(c, "BEGIN IMMEDIATE", timeout_s=self.config.busy_give_up_s)
            try:
                await self._insert_in_slices(c, stmts)
                await self._retry_busy(c, "COMMIT", timeout_s=self.config.busy_give_up_s)
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.config.checkpoint_every_batches:
            self._since_checkpoint = 0
            try:
                await self._checkpoint()
            except Exception:  # noqa: BLE001 - the next one catches up
                pass

    async def _insert_in_slices(self, c: sqlite3.Connection, stmts: list[SqliteStatement]) -> None:
        step = self.config.loop_slice_rows
        done = 0
        for sql, rows in stmts:
            for i in range(0, len(rows), step):
                if done >= step:
                    done = 0
                    await asyncio.sleep(0)
                part = rows[i : i + step]
                c.executemany(sql, part)
                done += len(part)

    def _connection(self) -> sqlite3.Connection:
        c = self._conn
        if c is None:
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA busy_timeout = 0")  # never wait for a lock on the loop: see _retry_busy
            c.execute("PRAGMA journal_mode = WAL")
            c.execute("PRAGMA synchronous = NORMAL")
            c.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run in the writer thread
            self._conn = c
        return c

    @staticmethod
    async def _retry_busy(c: sqlite3.Connection, sql: str, timeout_s: float) -> None:
        """``sql``, retried while another connection holds the write lock (as busy_timeout would,
        but sleeping on the loop instead of blocking it)."""
        delay, waited = 0.001, 0.0
        while True:
            try:
                c.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or waited >= timeout_s:
                    raise
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 0.05)
