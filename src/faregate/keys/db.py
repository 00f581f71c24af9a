"""A minimal async database handle by URL (``sqlite:///path``, ``postgresql://...``) for the
key store, with the numbered-migrations runner for ``storage/migrations/keys/``.

Stand-in until ``faregate.storage.db`` lands; the SQL is written once with ``$1`` placeholders
(PostgreSQL's) and rewritten to ``?`` for sqlite.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
from importlib import resources
from pathlib import Path
from typing import Any

_PH = re.compile(r"\$\d+")


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///relative`` / ``sqlite:////absolute`` URL (None for others)."""
    if not url.startswith("sqlite:"):
        return None
    rest = url[len("sqlite:"):]
    if rest.startswith("///"):
        return rest[3:] or ":memory:"
    if rest.startswith("//"):
        return rest[2:] or ":memory:"
    return rest or ":memory:"


class Database:
    """``execute`` / ``fetch`` (list of dicts) / ``fetchval``; ``close``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite:") else "postgres"
        self._conn: sqlite3.Connection | None = None
        self._pool: Any = None
        self._lock = threading.Lock()

    async def connect(self) -> "Database":
        if self.kind == "sqlite":
            path = sqlite_path(self.url)
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout = 5000")
        else:
            import asyncpg
            self._pool = await asyncpg.create_pool(self.url.replace("postgresql+asyncpg://", "postgresql://"),
                                                   min_size=1, max_size=4, command_timeout=5)
        return self

    def _sqlite(self, sql: str, args: tuple, mode: str) -> Any:
        assert self._conn is not None
        with self._lock:
            cur = self._conn.execute(_PH.sub("?", sql), args)
            if mode == "fetch":
                return [dict(r) for r in cur.fetchall()]
            if mode == "val":
                row = cur.fetchone()
                return None if row is None else row[0]
            return cur.rowcount

    async def execute(self, sql: str, *args: Any) -> int:
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite, sql, args, "exec")
        status = await self._pool.execute(sql, *args)
        try:
            return int(status.split()[-1])
        except (ValueError, IndexError):
            return 0

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite, sql, args, "fetch")
        return [dict(r) for r in await self._pool.fetch(sql, *args)]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite, sql, args, "val")
        return await self._pool.fetchval(sql, *args)

    async def executescript(self, script: str) -> None:
        if self.kind == "sqlite":
            assert self._conn is not None
            with self._lock:
                self._conn.executescript(script)
        else:
            await self._pool.execute(script)

    async def migrate(self, concern: str) -> list[int]:
        """Apply ``storage/migrations/<concern>/NNN_*.sql`` not applied yet, in order."""
        await self.execute("CREATE TABLE IF NOT EXISTS fg_migrations_keys "
                           "(concern TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (concern, version))")
        done = {r["version"] for r in await self.fetch(
            "SELECT version FROM fg_migrations_keys WHERE concern = $1", concern)}
        applied = []
        folder = resources.files("faregate.storage").joinpath("migrations", concern)
        for f in sorted(folder.iterdir(), key=lambda p: p.name):
            if not f.name.endswith(".sql"):
                continue
            version = int(f.name.split("_", 1)[0])
            if version in done:
                continue
            await self.executescript(f.read_text(encoding="utf-8"))
            await self.execute("INSERT INTO fg_migrations_keys (concern, version) VALUES ($1, $2) "
                               "ON CONFLICT DO NOTHING", concern, version)
            applied.append(version)
        return applied

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
