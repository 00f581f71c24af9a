"""The SQLite backend (``sqlite:///relative/path`` or ``sqlite:////absolute/path``): stdlib ``sqlite3``.

WAL, ``synchronous=NORMAL``. Single writes and migrations run in ONE dedicated writer thread on
its own connection, every read on a second thread and connection, so a long read never waits
for a write. ``batch`` (the request log's bulk inserts) runs on the event loop itself, a few
dozen rows at a time with the loop served in between (``sqlite_loop_batch``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..config import LogWriterConfig
from .db import Copy, Database, DatabaseUnavailable, Statement, _qmarks, sqlite_path
from .sqlite_loop_batch import LoopBatchWriter, SqliteStatement, unavailable

T = TypeVar("T")


def _is_noise(text: str) -> bool:
    """Only comments and blank lines."""
    return all(ln.strip().startswith("--") or not ln.strip() for ln in text.strip().splitlines())


def _split_sql(script: str) -> list[str]:
    """Complete statements of a SQL script (sqlite3.complete_statement knows quotes and triggers)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip().strip(";").strip() and not _is_noise(buf):
                out.append(buf)
            buf = ""
    if buf.strip() and not _is_noise(buf):
        out.append(buf)
    return out


def _wal(conn: sqlite3.Connection, timeout_s: float = 10.0) -> None:
    """``journal_mode = WAL``, retried while locked: two processes opening a new database at once
    (replicas, or writers replaying one spill file) can find it locked, and SQLite does not wait
    on the busy timeout for this pragma. Runs in a worker thread, so it may sleep."""
    t_end = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > t_end:
                raise
        time.sleep(0.01)


class SQLiteDatabase(Database):
    """See the module docstring."""

    dialect = "sqlite"
    schemes = ("sqlite:",)

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url) or ":memory:"
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="fg-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="fg-sqlite-reader")
        self._local = threading.local()
        self._closed = False
        self._loop_batch = LoopBatchWriter(self.path, self._checkpoint)

    @classmethod
    def create(cls, url: str, **kw: Any) -> SQLiteDatabase:
        return cls(url, **kw)

    def tune_bulk_writes(self, config: LogWriterConfig) -> None:
        self._loop_batch.config = config

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            if self.path != ":memory:":
                _wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    async def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._run(self._writer, lambda c: None)

    async def _run(self, pool: ThreadPoolExecutor, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise DatabaseUnavailable("database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, lambda: fn(self._conn()))
        except sqlite3.OperationalError as exc:
            if unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    async def _checkpoint(self) -> None:
        await self._run(self._writer, lambda w: w.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    async def execute(self, sql: str, *args: Any) -> int:
        q = _qmarks(sql)
        return await self._run(self._writer, lambda c: c.execute(q, args).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.batch([(sql, rows)])

    async def batch(self, statements: Sequence[Statement]) -> None:
        stmts: list[SqliteStatement] = [
            (_qmarks(s.insert_sql()), s.rows) if isinstance(s, Copy) else (_qmarks(s[0]), list(s[1]))
            for s in statements
        ]
        if self.path != ":memory:":  # (each connection to :memory: is a database of its own)
            if self._closed:
                raise DatabaseUnavailable("database is closed")
            await self._loop_batch.write(stmts)
            return

        def work(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            try:
                for s, r in stmts:
                    if r:
                        c.executemany(s, r)
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")

        await self._run(self._writer, work)

    async def executescript(self, script: str) -> None:
        await self._run(self._writer, lambda c: c.executescript(script))

    async def _apply_migration(self, sql: str, concern: str, version: int, name: str) -> bool:
        def work(c: sqlite3.Connection) -> bool:
            # BEGIN IMMEDIATE takes the write lock, so two processes (or two handles) starting at
            # once apply each version exactly once; statements one by one because executescript
            # would commit the transaction first.
            c.execute("BEGIN IMMEDIATE")
            applied = False
            try:
                seen = c.execute(
                    "SELECT 1 FROM schema_migrations WHERE concern = ? AND version = ?", (concern, version)
                ).fetchone()
                if seen is None:
                    for stmt in _split_sql(sql):
                        c.execute(stmt)
                    c.execute(
                        "INSERT INTO schema_migrations (concern, version, name) VALUES (?, ?, ?)",
                        (concern, version, name),
                    )
                    applied = True
            except BaseException:
                c.execute("ROLLBACK")
                raise
            c.execute("COMMIT")
            return applied

        return await self._run(self._writer, work)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        q = _qmarks(sql)
        return await self._run(self._reader, lambda c: [dict(r) for r in c.execute(q, args).fetchall()])

    async def close(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        for pool in (self._writer, self._reader):
            await loop.run_in_executor(pool, self._close_local)
            pool.shutdown(wait=True)
        self._loop_batch.close()
        self._closed = True

    def _close_local(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
