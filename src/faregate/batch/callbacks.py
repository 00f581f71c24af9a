"""Webhook callbacks of the router's batch plan: when a deferred request's batch ends, POST its
answer line (OpenAI's output-line JSON, with ``batch_id``) to the ``callback_url`` it gave.

A watcher per job polls the job row (every 0.2 s at first, growing to 5 s). When the job has
ended, one replica claims the callback (``pending`` -> ``sending``, a compare-and-set of the job
row, so replicas sharing the database never both send it) and POSTs at most ``attempts`` times
with a doubling backoff; a 2xx ends it. The outcome is written into the job row
(``_callback.state``: ``delivered`` or ``failed``, with the attempts made); with a secret each
POST is signed (``X-Faregate-Signature``). A client can still poll ``GET /v1/batches/{id}``.
A starting gateway watches again every job whose callback is pending, or was being sent for
more than ``STALE_S`` by a replica that went away (``resume``)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from ..storage.db import Database
from .store import BatchStore

log = logging.getLogger("faregate.batch")
TERMINAL = ("completed", "failed", "cancelled", "expired")
FIRST_POLL_S, MAX_POLL_S = 0.2, 5.0
MAX_BACKOFF_S = 30.0
STALE_S = 600.0  # a callback "sending" this long was left by a replica that stopped: send it again
# Rows whose callback may be due (checked exactly by ``_due``): a scan at start-up only.
_MAYBE_DUE = (
    "SELECT id, job FROM batch_job WHERE job LIKE '%\"_callback\":%' "
    'AND (job LIKE \'%"state":"pending"%\' OR job LIKE \'%"state":"sending"%\')'
)


def _due(callback: dict[str, Any], now: float) -> bool:
    state = callback.get("state")
    return state == "pending" or (state == "sending" and now - float(callback.get("since") or 0) > STALE_S)


class CallbackSender:
    """Watches deferred jobs that carry a ``_callback`` and delivers their answer."""

    def __init__(
        self,
        store: BatchStore,
        attempts: int = 5,
        timeout_s: float = 10.0,
        backoff_s: float = 0.5,
        secret: str | None = None,
        database: Callable[[], Awaitable[Database]] | None = None,
    ) -> None:
        self.store, self.attempts, self.timeout_s, self.backoff_s = store, attempts, timeout_s, backoff_s
        self.secret, self.database = secret, database
        self.holder = secrets.token_hex(8)
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, batch_id: str) -> None:
        if batch_id not in self.tasks:
            task = asyncio.create_task(self._watch(batch_id))
            self.tasks[batch_id] = task
            task.add_done_callback(lambda _t: self.tasks.pop(batch_id, None))

    async def resume(self) -> None:
        """Watch again every job whose callback is still due (see the module)."""
        if self.database is None:
            return
        db = await self.database()
        now = time.time()
        for row in await db.fetch(_MAYBE_DUE):
            if _due(orjson.loads(row["job"]).get("_callback") or {}, now):
                self.watch(str(row["id"]))

    async def close(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _watch(self, batch_id: str) -> None:
        try:
            await self._until_done(batch_id)
            job = await self._claim(batch_id)
            if job is None:
                return  # delivered already, or another replica is sending it
            line = await self._answer(job)
            state, tries = await self._deliver(job["_callback"]["url"], {**line, "batch_id": batch_id})
            job["_callback"] = {**job["_callback"], "state": state, "attempts": tries}
            await self.store.update_job(job)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("callback of batch %s failed", batch_id)

    async def _until_done(self, batch_id: str) -> dict[str, Any]:
        wait = FIRST_POLL_S
        while True:
            job = await self.store.job(None, batch_id)
            if job is None:
                raise LookupError(f"batch {batch_id} is gone")
            if job["status"] in TERMINAL:
                return job
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, MAX_POLL_S)

    async def _claim(self, batch_id: str) -> dict[str, Any] | None:
        """The ended job, its callback marked ``sending`` by this sender; None when it is not due
        or another replica changed the row first."""
        if self.database is None:
            return await self.store.job(None, batch_id)
        db = await self.database()
        row = await db.fetchrow("SELECT job FROM batch_job WHERE id = $1", batch_id)
        if row is None:
            return None
        job = orjson.loads(row["job"])
        now = time.time()
        if not _due(job.get("_callback") or {}, now):
            return None
        job["_callback"] = {**job["_callback"], "state": "sending", "since": now, "by": self.holder}
        claimed = await db.execute(
            "UPDATE batch_job SET job = $2 WHERE id = $1 AND job = $3", batch_id, orjson.dumps(job).decode(), row["job"]
        )
        return job if claimed else None

    async def _answer(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job's one answer line: from the output file, else the error file."""
        for key in ("output_file_id", "error_file_id"):
            fid = job.get(key)
            found = await self.store.file(job["_owner"], fid) if fid else None
            if found is not None and found[1].strip():
                return dict(orjson.loads(found[1].splitlines()[0]))
        return {"custom_id": None, "response": None, "error": {"code": job["status"], "message": "no answer line"}}

    async def _deliver(self, url: str, line: dict[str, Any]) -> tuple[str, int]:
        body = orjson.dumps(line)
        headers = {"content-type": "application/json", "x-faregate-batch-id": str(line["batch_id"])}
        if self.secret:  # the same signature as the alert webhooks', so one receiver checks both
            headers["x-faregate-signature"] = (
                "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            )
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for n in range(1, self.attempts + 1):
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        if 200 <= resp.status < 300:
                            return "delivered", n
                        why = f"HTTP {resp.status}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    why = type(exc).__name__
                log.warning("callback of batch %s, attempt %d/%d: %s", line["batch_id"], n, self.attempts, why)
                if n < self.attempts:
                    await asyncio.sleep(min(self.backoff_s * 2 ** (n - 1), MAX_BACKOFF_S))
        return "failed", self.attempts
