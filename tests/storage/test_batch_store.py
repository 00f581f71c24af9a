"""The batch job store on SQLite and the real PostgreSQL (``db_url``: fails, not skips, under
FAREGATE_REQUIRE_SERVICES=1): files and jobs scoped to their owner, and one claimant per lease."""

from __future__ import annotations

import asyncio

from faregate.batch.store import BatchStore
from faregate.storage.db import Database


async def test_files_jobs_and_the_lease(db_url):
    db = await Database.open(db_url)
    try:
        await db.migrate("request_log")

        async def opened() -> Database:
            return db

        a, b = BatchStore(opened), BatchStore(opened)
        await a.save_file({"id": "file-1", "created_at": 1, "purpose": "batch", "filename": "in.jsonl"}, "k1", "x\n")
        assert (await b.file("k1", "file-1"))[1] == "x\n"
        assert await b.file("k2", "file-1") is None  # another key sees nothing
        await a.save_job("k1", {"id": "batch_1", "status": "validating"})
        assert await b.unfinished() == ["batch_1"]
        wins = await asyncio.gather(*(s.claim("batch_1", 60) for s in (a, b, a, b)))
        assert sorted(wins) == [False, False, False, True]
        await a.update_job({"id": "batch_1", "status": "completed"})
        assert await b.unfinished() == [] and (await b.job("k1", "batch_1"))["status"] == "completed"
        assert await a.delete_file("k1", "file-1") and await a.file("k1", "file-1") is None
    finally:
        await db.close()


async def test_lease_renew_release_and_answered_lines(db_url):
    db = await Database.open(db_url)
    try:
        await db.migrate("request_log")

        async def opened() -> Database:
            return db

        a, b = BatchStore(opened), BatchStore(opened)
        await a.save_job("k1", {"id": "batch_2", "status": "in_progress"})
        assert await a.claim("batch_2", 60, "runner_a")
        assert not await b.claim("batch_2", 60, "runner_b")
        assert await a.renew("batch_2", 60, "runner_a") and not await b.renew("batch_2", 60, "runner_b")
        await b.release("batch_2", "runner_b")  # not b's lease: nothing changes
        assert not await b.claim("batch_2", 60, "runner_b")
        await a.release("batch_2", "runner_a")  # given back: another replica resumes at once
        assert await b.claim("batch_2", 60, "runner_b")
        line = {"id": "batch_req_1", "custom_id": "c1", "response": {"status_code": 200}, "error": None}
        await a.save_line("batch_2", line)
        await b.save_line("batch_2", {**line, "id": "batch_req_again"})  # a second answer is not kept
        assert await b.lines("batch_2") == {"c1": line}
    finally:
        await db.close()
