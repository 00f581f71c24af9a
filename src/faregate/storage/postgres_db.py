"""The PostgreSQL backend (``postgresql://user@host:port/db``): an ``asyncpg`` pool.

Bulk inserts (``Copy``) use COPY; migrations and the migrations table are serialised across
concurrent starters with advisory locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

from .db import MIGRATIONS_TABLE, Copy, Database, DatabaseUnavailable, Statement

T = TypeVar("T")


class PostgresDatabase(Database):
    """See the module docstring."""

    dialect = "postgres"
    schemes = ("postgresql:", "postgres:", "postgresql+asyncpg:")

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4, timeout: float = 5.0) -> None:
        self.url = url.replace("postgresql+asyncpg://", "postgresql://")
        self._pool: Any = None
        self._sizes = (min_size, max_size)
        self._timeout = timeout

    @classmethod
    def create(cls, url: str, **kw: Any) -> PostgresDatabase:
        return cls(url, **kw)

    async def _connect(self) -> None:
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self._sizes[0], max_size=self._sizes[1], command_timeout=30, timeout=self._timeout
            )
        except (TimeoutError, OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc

    async def _guard(self, coro: Awaitable[T]) -> T:
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

    async def batch(self, statements: Sequence[Statement]) -> None:
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
                    await conn.execute(MIGRATIONS_TABLE)

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
