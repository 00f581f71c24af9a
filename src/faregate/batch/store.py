"""Files and batch jobs in the request-log database (migrations ``request_log/009_batch`` and
``019_batch_provider``: the state of a job run by a provider's batch API).

Every read is scoped to the owner (a gateway key id): another key gets a 404, as with stored
responses. A job row carries the whole OpenAI batch object as JSON plus a lease: the replica
that claims a job (``claim``, one atomic UPDATE) runs it until the lease expires."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from ..core.errors import GatewayError
from ..storage.db import Database

_NEW_JOB = "INSERT INTO batch_job (id, owner, created_at, status, job, lease_until) VALUES ($1, $2, $3, $4, $5, 0)"


class BatchUnavailable(GatewayError):
    """No request-log database (``database_url: ""``): the batch tier needs one (a 503)."""

    status = 503
    type = "server_error"
    code = "batch_unavailable"


class BatchStore:
    """Save and read files and batch objects for one owner."""

    def __init__(self, database: Callable[[], Awaitable[Database]] | None) -> None:
        self._db = database

    async def _open(self) -> Database:
        if self._db is None:
            raise BatchUnavailable("The batch tier needs the request-log database; set database_url.")
        return await self._db()

    async def save_file(self, obj: dict[str, Any], owner: str, content: str) -> None:
        db = await self._open()
        await db.execute(
            "INSERT INTO batch_file (id, owner, created_at, purpose, filename, content) VALUES ($1, $2, $3, $4, $5, $6)",
            obj["id"],
            owner,
            float(obj["created_at"]),
            obj["purpose"],
            obj["filename"],
            content,
        )

    async def file(self, owner: str, fid: str) -> tuple[dict[str, Any], str] | None:
        db = await self._open()
        row = await db.fetchrow(
            "SELECT created_at, purpose, filename, content FROM batch_file WHERE id = $1 AND owner = $2", fid, owner
        )
        if row is None:
            return None
        content = str(row["content"])
        obj = {
            "id": fid,
            "object": "file",
            "bytes": len(content.encode()),
            "created_at": int(row["created_at"]),
            "filename": row["filename"],
            "purpose": row["purpose"],
            "status": "processed",
        }
        return obj, content

    async def delete_file(self, owner: str, fid: str) -> bool:
        db = await self._open()
        return bool(await db.execute("DELETE FROM batch_file WHERE id = $1 AND owner = $2", fid, owner))

    async def save_job(self, owner: str, job: dict[str, Any]) -> None:
        db = await self._open()
        await db.execute(_NEW_JOB, job["id"], owner, time.time(), job["status"], orjson.dumps(job).decode())

    async def update_job(self, job: dict[str, Any]) -> None:
        db = await self._open()
        await db.execute(
            "UPDATE batch_job SET status = $2, job = $3 WHERE id = $1",
            job["id"],
            job["status"],
            orjson.dumps(job).decode(),
        )

    async def job(self, owner: str | None, bid: str) -> dict[str, Any] | None:
        db = await self._open()
        if owner is None:  # the worker reads any job it claimed
            row = await db.fetchrow("SELECT job FROM batch_job WHERE id = $1", bid)
        else:
            row = await db.fetchrow("SELECT job FROM batch_job WHERE id = $1 AND owner = $2", bid, owner)
        return orjson.loads(row["job"]) if row is not None else None

    async def jobs(self, owner: str) -> list[dict[str, Any]]:
        """The owner's jobs, newest first."""
        db = await self._open()
        rows = await db.fetch("SELECT job FROM batch_job WHERE owner = $1 ORDER BY created_at DESC, id DESC", owner)
        return [orjson.loads(r["job"]) for r in rows]

    async def claim(self, bid: str, lease_s: float, holder: str = "") -> bool:
        """Take the job's lease if it is free or expired (one UPDATE: two replicas never both win)."""
        db = await self._open()
        now = time.time()
        done = await db.execute(
            "UPDATE batch_job SET lease_until = $2, lease_owner = $4 WHERE id = $1 AND lease_until < $3",
            bid,
            now + lease_s,
            now,
            holder,
        )
        return bool(done)

    async def renew(self, bid: str, lease_s: float, holder: str) -> bool:
        """Extend a lease this holder still has (false: it expired and another replica took it)."""
        db = await self._open()
        sql = "UPDATE batch_job SET lease_until = $2 WHERE id = $1 AND lease_owner = $3"
        return bool(await db.execute(sql, bid, time.time() + lease_s, holder))

    async def release(self, bid: str, holder: str) -> None:
        """Give the lease back (shutdown, job done): another replica may resume at once."""
        db = await self._open()
        await db.execute("UPDATE batch_job SET lease_until = 0 WHERE id = $1 AND lease_owner = $2", bid, holder)

    async def save_line(self, bid: str, result: dict[str, Any]) -> None:
        """Persist one answered line (its progress): a resumed job does not run it again."""
        db = await self._open()
        await db.execute(
            "INSERT INTO batch_line (batch_id, custom_id, result) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            bid,
            result["custom_id"],
            orjson.dumps(result).decode(),
        )

    async def lines(self, bid: str) -> dict[str, dict[str, Any]]:
        """custom_id -> the answered line, for the lines of ``bid`` already run."""
        db = await self._open()
        rows = await db.fetch("SELECT custom_id, result FROM batch_line WHERE batch_id = $1", bid)
        return {str(r["custom_id"]): orjson.loads(r["result"]) for r in rows}

    async def save_provider_state(self, bid: str, state: dict[str, Any]) -> None:
        """Persist the job's provider-batch state (migration ``request_log/019``)."""
        db = await self._open()
        await db.execute("UPDATE batch_job SET provider_state = $2 WHERE id = $1", bid, orjson.dumps(state).decode())

    async def provider_state(self, bid: str) -> dict[str, Any] | None:
        """The job's provider-batch state; ``None``: it runs by faregate itself (or is not planned yet)."""
        db = await self._open()
        row = await db.fetchrow("SELECT provider_state FROM batch_job WHERE id = $1", bid)
        return orjson.loads(row["provider_state"]) if row is not None and row["provider_state"] else None

    async def unfinished(self) -> list[str]:
        """Jobs a (restarted) gateway should resume."""
        db = await self._open()
        rows = await db.fetch(
            "SELECT id FROM batch_job WHERE status IN ('validating', 'in_progress', 'finalizing', 'cancelling')"
        )
        return [str(r["id"]) for r in rows]
