"""Cache purges reach every replica (migration 013's ``cache_purges``).

``DELETE /v1/cache`` on one replica purges every layer it can reach: Redis and the database
are shared, but each replica's memory layer (and semantic index) is its own. So the purge is
also written to ``cache_purges``; every replica reads the rows written by the others every
``cache.index_refresh_s`` and purges its memory layer likewise, so a purged answer stops being
served fleet-wide within about one interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from typing import TYPE_CHECKING

import orjson

from ..core.tasks import cancel_task
from ..storage.db import Database, DatabaseUnavailable
from .layer import Selector

if TYPE_CHECKING:
    from .service import CacheService

log = logging.getLogger("faregate.cache")


class PurgeSync:
    """One replica's announcements of its purges, and its poll of the others'."""

    def __init__(self, service: CacheService, database_url: str, interval_s: float) -> None:
        self.service = service
        self.url = database_url
        self.interval_s = interval_s
        self.origin = uuid.uuid4().hex
        self.db: Database | None = None
        self._seen = 0
        self._task: asyncio.Task[None] | None = None
        self.applied = 0

    async def start(self) -> None:
        try:
            self.db = await Database.open(self.url)
            await self.db.migrate("request_log")
        except DatabaseUnavailable as exc:
            log.error("cache purges are not shared (the database cannot be reached): %s", exc)
            self.db = None
            return
        # Purges before this start do not matter: this replica's memory layer is empty.
        self._seen = int(await self.db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM cache_purges") or 0)
        self._task = asyncio.create_task(self._run(), name="faregate-cache-purges")

    async def close(self) -> None:
        await cancel_task(self._task)
        self._task = None
        if self.db is not None:
            await self.db.close()
            self.db = None

    async def announce(self, sel: Selector) -> None:
        if self.db is None:
            return
        await self.db.execute(
            "INSERT INTO cache_purges (origin, selector, at) VALUES ($1, $2, $3)",
            self.origin,
            orjson.dumps(dataclasses.asdict(sel)).decode(),
            time.time(),
        )

    async def poll(self) -> None:
        if self.db is None:
            return
        rows = await self.db.fetch(
            "SELECT seq, origin, selector FROM cache_purges WHERE seq > $1 ORDER BY seq", self._seen
        )
        for r in rows:
            self._seen = max(self._seen, int(r["seq"]))
            if r["origin"] != self.origin:
                await self.service.delete(Selector(**orjson.loads(r["selector"])), local_only=True)
                self.applied += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cache purge poll failed; retrying")
