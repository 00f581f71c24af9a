"""A tiny async database layer chosen by URL, shared by every storage concern.

``sqlite:///relative/path`` or ``sqlite:////absolute/path``
    stdlib ``sqlite3`` (``storage.sqlite_db``; bulk writes on the event loop in
    ``storage.sqlite_loop_batch``).
``postgresql://user@host:port/db``
    an ``asyncpg`` pool (``storage.postgres_db``).

This module holds the contract every backend implements (``Database``), the shared pieces
(``Copy``, ``DatabaseUnavailable``, migrations) and the factory. Extension point: a backend
subclasses ``Database`` with ``schemes`` set to the URL prefixes it serves; defining the class
registers it (``storage/__init__`` imports the built-in backends, so ``Database.open`` always
knows them).

SQL is written once with PostgreSQL's ``$1, $2`` placeholders; the SQLite backend rewrites
them to ``?1, ?2`` (so a parameter may be used twice; never put ``$`` in a string literal).
Keep the SQL portable (``ON CONFLICT`` upserts, ``DOUBLE PRECISION``, ``BIGINT``, ``TEXT``); where the dialects differ, write
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

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from importlib import resources
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

if TYPE_CHECKING:
    from ..config import LogWriterConfig

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

    def __init__(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.table, self.columns, self.rows = table, list(columns), rows

    def insert_sql(self) -> str:
        return (
            f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "
            f"({', '.join(f'${i + 1}' for i in range(len(self.columns)))})"
        )


# What ``Database.batch`` takes: ``(sql, rows)`` pairs and ``Copy`` bulk inserts.
Statement: TypeAlias = "tuple[str, Iterable[Sequence[Any]]] | Copy"


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
    by_version: dict[int, dict[str, Traversable]] = {}
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
        chosen = files.get(dialect) or files.get("any")
        if chosen is None:
            raise RuntimeError(f"migration {concern}/{version:03d} has no file for {dialect}")
        out.append((version, chosen.name, chosen.read_text(encoding="utf-8")))
    return out


MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (concern TEXT NOT NULL, "
    "version INTEGER NOT NULL, name TEXT, PRIMARY KEY (concern, version))"
)


class Database(ABC):
    """The contract every backend implements, and the factory that picks one by URL."""

    dialect: ClassVar[str] = ""
    # URL prefixes this backend serves; a subclass that sets them is registered for ``open``.
    schemes: ClassVar[tuple[str, ...]] = ()
    _backends: ClassVar[list[type[Database]]] = []

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.schemes:
            Database._backends.append(cls)

    @staticmethod
    async def open(url: str, **kw: Any) -> Database:
        """Connect to ``url`` (raises ``DatabaseUnavailable`` if it cannot); ``kw`` goes to the backend."""
        for backend in Database._backends:
            if url.startswith(backend.schemes):
                db = backend.create(url, **kw)
                await db._connect()
                return db
        raise ValueError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///path or postgresql://...")

    @classmethod
    @abstractmethod
    def create(cls, url: str, **kw: Any) -> Database:
        """A not yet connected instance for ``url``."""

    @abstractmethod
    async def _connect(self) -> None:
        """Open the connection(s); raise ``DatabaseUnavailable`` when the database cannot be reached."""

    @abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows affected."""

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement per row, in one transaction."""

    @abstractmethod
    async def batch(self, statements: Sequence[Statement]) -> None:
        """Several ``(sql, rows)`` executemany and ``Copy`` bulk inserts, in ONE transaction."""

    @abstractmethod
    async def executescript(self, script: str) -> None:
        """Run a script of several statements."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """The rows of a query, as dicts."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; idempotent."""

    def tune_bulk_writes(self, config: LogWriterConfig) -> None:
        """How ``batch`` paces large writes (the request log's settings); the default ignores them."""

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

    @abstractmethod
    async def _apply_migration(self, sql: str, concern: str, version: int, name: str) -> bool:
        """Apply one version in a transaction unless another starter did; True if applied here."""

    async def _ensure_migrations_table(self) -> None:
        await self.execute(MIGRATIONS_TABLE)
