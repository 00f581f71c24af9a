"""A tiny async database layer chosen by URL, shared by every storage concern.

``sqlite:///relative/path`` or ``sqlite:////absolute/path``
    stdlib ``sqlite3`` (WAL, ``synchronous=NORMAL``). Single writes and migrations run in ONE
    dedicated writer thread on its own connection, every read on a second thread and connection,
    so a long read never waits for a write. ``batch`` (the request log's bulk inserts) runs on
    the event loop itself, a few dozen rows at a time with the loop served in between: in a
    thread, sqlite3's GIL release around every row made each row cost two thread hand-offs.
``postgresql://user@host:port/db``
    an ``asyncpg`` pool.

SQL is written once with PostgreSQL's ``$1, $2`` placeholders; the SQLite backend rewrites
them to ``?1, ?2`` (so a parameter may be used twice; never put ``$`` in a string literal). Keep the SQL portable (``ON CONFLICT``
upserts, ``DOUBLE PRECISION``, ``BIGINT``, ``TEXT``); where the dialects differ, write
``NNN_name.sqlite.sql`` and ``NNN_name.postgres.sql`` next to each other.

API::

    db = await Database.open(url)          # connects (raises DatabaseUnavailable if it cannot)
    await db.migrate("request_log")        # applies storage/migrations/request_log/NNN_*.sql
    await db.execute(sql, *args) -> int    # rows affected
    await db.executemany(sql, rows)        # one transaction
    await db.batch([(sql, rows), Copy(table, columns, rows), ...])
                                           # several executemany / bulk copies, ONE transaction
    await db.fetch(sql, *args) -> list[dict]
    await db.fetchrow(sql, *args) -> dict | None
    await db.fetchval(sql, *args)
    await db.close()

Migrations: ``storage/migrations/<concern>/NNN_name.sql`` (or the per-dialect pair), applied in
order, each in a transaction, recorded in ``schema_migrations(concern, version)``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

_PH = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=512)
def _qmarks(sql: str) -> str:
    """PostgreSQL's ``$1`` placeholders as SQLite's ``?1``; cached, since the same few statements
    (the log insert, the rollup upserts) run every batch and the rewrite costs more than the lookup."""
    return _PH.sub(r"?\1", sql)


class Copy:
    """A bulk insert for ``Database.batch``: PostgreSQL's COPY (several times faster than an
    INSERT per row), a plain ``executemany`` INSERT on SQLite. No ON CONFLICT: a duplicate key
    fails the whole batch."""

    __slots__ = ("table", "columns", "rows")

    def __init__(self, table: str, columns: Sequence[str], rows: list[Sequence[Any]]) -> None:
        self.table, self.columns, self.rows = table, list(columns), rows

    def insert_sql(self) -> str:
        return (
            f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "
            f"({', '.join(f'${i + 1}' for i in range(len(self.columns)))})"
        )


class DatabaseUnavailable(Exception):
    """The database could not be reached (connect or query failed for a transport reason)."""


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///relative`` / ``sqlite:////absolute`` URL (None for other schemes)."""
    if not url.startswith("sqlite:"):
        return None
    rest = url[len("sqlite:") :]
    if rest.startswith("///"):
        return rest[3:] or ":memory:"
    if rest.startswith("//"):
        return rest[2:] or ":memory:"
    return rest or ":memory:"


def migration_files(concern: str, dialect: str) -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for a concern, picking the dialect file where there is one."""
    folder = resources.files("faregate.storage").joinpath("migrations", concern)
    by_version: dict[int, dict[str, Any]] = {}
    for f in folder.iterdir():
        name = f.name
        if not name.endswith(".sql") or not name[:1].isdigit():
            continue
        version = int(name.split("_", 1)[0])
        stem = name[:-4]
        kind = "any"
        for d in ("sqlite", "postgres"):
            if stem.endswith("." + d):
                kind = d
        by_version.setdefault(version, {})[kind] = f
    out = []
    for version in sorted(by_version):
        files = by_version[version]
        f = files.get(dialect) or files.get("any")
        if f is None:
            raise RuntimeError(f"migration {concern}/{version:03d} has no file for {dialect}")
        out.append((version, f.name, f.read_text(encoding="utf-8")))
    return out


class Database:
    """Base class and factory; see the module docstring for the contract."""

    dialect = ""

    @staticmethod
    async def open(url: str, **kw: Any) -> Database:
        if url.startswith("sqlite:"):
            db: Database = SQLiteDatabase(url)
        elif url.startswith(("postgresql:", "postgres:", "postgresql+asyncpg:")):
            db = PostgresDatabase(url, **kw)
        else:
            raise ValueError(
                f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://..."
            )
        await db._connect()
        return db

    async def _connect(self) -> None: ...

    async def execute(self, sql: str, *args: Any) -> int: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def batch(self, statements: list[Any]) -> None: ...
    async def executescript(self, script: str) -> None: ...
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]: ...
    async def close(self) -> None: ...

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))

    async def migrate(self, concern: str) -> list[int]:
        """Apply the concern's migrations not applied yet; returns the versions applied now."""
        await self._ensure_migrations_table()
        done = {
            r["version"] for r in await self.fetch("SELECT version FROM schema_migrations WHERE concern = $1", concern)
        }
        applied = []
        for version, name, sql in migration_files(concern, self.dialect):
            if version in done:
                continue
            if await self._apply_migration(sql, concern, version, name):
                applied.append(version)
        return applied

    async def _apply_migration(self, sql: str, concern: str, version: int, name: str) -> bool:
        """Apply one version in a transaction unless another starter did; True if applied here."""

    async def _ensure_migrations_table(self) -> None:
        await self.execute(_MIGRATIONS_TABLE)


_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (concern TEXT NOT NULL, "
    "version INTEGER NOT NULL, name TEXT, PRIMARY KEY (concern, version))"
)


def _split_sql(script: str) -> list[str]:
    """Complete statements of a SQL script (sqlite3.complete_statement knows quotes and triggers)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip().strip(";").strip() and not all(
                ln.strip().startswith("--") or not ln.strip() for ln in buf.strip().splitlines()
            ):
                out.append(buf)
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buf.strip().splitlines()):
        out.append(buf)
    return out


LOOP_SLICE_ROWS = 32
CHECKPOINT_EVERY_BATCHES = 8


def _unavailable(exc: sqlite3.OperationalError) -> bool:
    """A transport-like failure (the file is locked, gone or failing), not a wrong statement."""
    msg = str(exc)
    return "locked" in msg or "unable to open" in msg or "disk I/O" in msg


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url) or ":memory:"
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="fg-sqlite-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="fg-sqlite-reader")
        self._local = threading.local()
        self._closed = False
        self._loop_conn: sqlite3.Connection | None = None  # bulk writes on the event loop (batch)
        self._loop_tx = asyncio.Lock()  # one batch at a time on that connection
        self._since_checkpoint = 0

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
        return conn

    async def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        await self._run(self._writer, lambda c: None)

    async def _run(self, pool: ThreadPoolExecutor, fn) -> Any:
        if self._closed:
            raise DatabaseUnavailable("database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, lambda: fn(self._conn()))
        except sqlite3.OperationalError as exc:
            if _unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise

    @staticmethod
    def _tx(conn: sqlite3.Connection, work) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = work()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return out

    async def execute(self, sql: str, *args: Any) -> int:
        q = _qmarks(sql)
        return await self._run(self._writer, lambda c: c.execute(q, args).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.batch([(sql, rows)])

    async def batch(self, statements: list[tuple[str, Iterable[Sequence[Any]]]]) -> None:
        stmts = [
            (_qmarks(s.insert_sql()), s.rows) if isinstance(s, Copy) else (_qmarks(s[0]), list(s[1]))
            for s in statements
        ]
        if self.path != ":memory:":  # (each connection to :memory: is a database of its own)
            await self._batch_on_loop(stmts)
            return

        def work(c: sqlite3.Connection) -> None:
            def body() -> None:
                for s, r in stmts:
                    if r:
                        c.executemany(s, r)

            self._tx(c, body)

        await self._run(self._writer, work)

    # -- bulk writes on the event loop ------------------------------------------------------
    #
    # The request log writes hundreds of rows a second. In a worker thread, sqlite3 releases and
    # re-takes the GIL around every row, so on the gateway's one core each row costs two GIL
    # hand-offs and context switches against the request path: measured, that doubled what the
    # log cost per request. On the loop the same rows cost only SQLite's own work. The loop is
    # never blocked long: ``LOOP_SLICE_ROWS`` rows at a time, then it serves requests again; a
    # held write lock is waited for with asyncio sleeps (busy_timeout 0 on this connection), and
    # checkpoints (the fsyncs) run in the writer thread.

    async def _batch_on_loop(self, stmts: list[tuple[str, list]]) -> None:
        async with self._loop_tx:  # a second batch must not start inside the first's transaction
            await self._write_on_loop(stmts)

    async def _write_on_loop(self, stmts: list[tuple[str, list]]) -> None:
        if self._closed:
            raise DatabaseUnavailable("database is closed")
        try:
            c = self._loop_connection()
            await self._retry_busy(c, "BEGIN IMMEDIATE")
            try:
                done = 0
                for sql, rows in stmts:
                    for i in range(0, len(rows), LOOP_SLICE_ROWS):
                        if done >= LOOP_SLICE_ROWS:
                            done = 0
                            await asyncio.sleep(0)
                        part = rows[i : i + LOOP_SLICE_ROWS]
                        c.executemany(sql, part)
                        done += len(part)
                await self._retry_busy(c, "COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if _unavailable(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
        self._since_checkpoint += 1
        if self._since_checkpoint >= CHECKPOINT_EVERY_BATCHES:
            self._since_checkpoint = 0
            try:
                await self._run(self._writer, lambda w: w.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())
            except Exception:  # noqa: BLE001 - the next one catches up
                pass

    def _loop_connection(self) -> sqlite3.Connection:
        c = self._loop_conn
        if c is None:
            c = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA busy_timeout = 0")  # never wait for a lock on the loop: see _retry_busy
            c.execute("PRAGMA journal_mode = WAL")
            c.execute("PRAGMA synchronous = NORMAL")
            c.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints run in the writer thread
            self._loop_conn = c
        return c

    @staticmethod
    async def _retry_busy(c: sqlite3.Connection, sql: str, timeout_s: float = 10.0) -> None:
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
                if (
                    c.execute(
                        "SELECT 1 FROM schema_migrations WHERE concern = ? AND version = ?", (concern, version)
                    ).fetchone()
                    is None
                ):
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
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        self._closed = True

    def _close_local(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 5.0) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self._pool: Any = None
        self._sizes = (min_size, max_size)
        self._timeout = timeout

    async def _connect(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self._sizes[0], max_size=self._sizes[1], command_timeout=30, timeout=self._timeout
            )
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc

    async def _guard(self, coro) -> Any:
        import asyncpg

        try:
            return await coro
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._guard(self._pool.execute(sql, *args))
        try:
            return int(status.split()[-1])
        except (ValueError, IndexError):
            return 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.batch([(sql, rows)])

    async def batch(self, statements: list[tuple[str, Iterable[Sequence[Any]]]]) -> None:
        async def work() -> None:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    for st in statements:
                        if isinstance(st, Copy):
                            if st.rows:
                                await conn.copy_records_to_table(st.table, records=st.rows, columns=st.columns)
                            continue
                        s, r = st[0], list(st[1])
                        if r:
                            await conn.executemany(s, r)

        await self._guard(work())

    async def executescript(self, script: str) -> None:
        await self._guard(self._pool.execute(script))

    async def _apply_migration(self, sql: str, concern: str, version: int, name: str) -> bool:
        async def work() -> bool:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    # Serialise concurrent starters (several gateway processes on one database).
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", concern)
                    done = await conn.fetchval(
                        "SELECT 1 FROM schema_migrations WHERE concern = $1 AND version = $2", concern, version
                    )
                    if done:
                        return False
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (concern, version, name) VALUES ($1, $2, $3)",
                        concern,
                        version,
                        name,
                    )
                    return True

        return await self._guard(work())

    async def _ensure_migrations_table(self) -> None:
        async def work() -> None:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    # Concurrent CREATE TABLE IF NOT EXISTS can collide in pg_type: serialise it.
                    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))")
                    await conn.execute(_MIGRATIONS_TABLE)

        await self._guard(work())

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._guard(self._pool.fetch(sql, *args))]

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 10)
            except Exception:  # noqa: BLE001
                self._pool.terminate()
            self._pool = None
