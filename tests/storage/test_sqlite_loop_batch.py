"""SQLite bulk writes run on the event loop: in slices (the loop keeps serving), waiting for a
write lock another connection holds without blocking the loop, all or nothing."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from faregate.config import LogWriterConfig
from faregate.storage.db import Copy, Database, DatabaseUnavailable
from faregate.storage.sqlite_loop_batch import LoopBatchWriter

SLICE = LogWriterConfig().loop_slice_rows


async def _open(tmp_path) -> Database:
    db = await Database.open(f"sqlite:///{tmp_path / 't.db'}")
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    return db


class _Ticker:
    """Counts how often the loop ran something else while a batch was in progress."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


async def test_a_large_batch_yields_to_the_loop_between_slices(tmp_path):
    db = await _open(tmp_path)
    n = 40 * SLICE
    ticker = _Ticker()
    await asyncio.sleep(0)
    before = ticker.ticks
    await db.batch([Copy("t", ["id", "v"], [(i, f"row {i}") for i in range(n)])])
    during = ticker.ticks - before
    await ticker.stop()
    assert await db.fetchval("SELECT COUNT(*) FROM t") == n
    # One yield per slice at least: other requests ran while the rows went in.
    assert during >= n // SLICE - 1
    await db.close()


async def test_a_held_write_lock_is_waited_for_without_blocking_the_loop(tmp_path):
    db = await _open(tmp_path)
    other = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    other.execute("INSERT INTO t VALUES (1000, 'theirs')")
    ticker = _Ticker()
    write = asyncio.get_running_loop().create_task(db.batch([Copy("t", ["id", "v"], [(1, "ours")])]))
    await asyncio.sleep(0.2)
    assert not write.done()
    assert ticker.ticks > 10  # the loop kept running all along
    other.execute("COMMIT")
    await asyncio.wait_for(write, 5)
    await ticker.stop()
    assert {r["id"] for r in await db.fetch("SELECT id FROM t")} == {1, 1000}
    other.close()
    await db.close()


async def test_a_lock_held_too_long_is_unavailable_and_writes_nothing(tmp_path, monkeypatch):
    db = await _open(tmp_path)
    other = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    real = LoopBatchWriter._retry_busy
    monkeypatch.setattr(
        LoopBatchWriter, "_retry_busy", staticmethod(lambda c, sql, timeout_s=10.0: real(c, sql, timeout_s=0.1))
    )
    with pytest.raises(DatabaseUnavailable):
        await db.batch([Copy("t", ["id", "v"], [(1, "ours")])])
    other.execute("ROLLBACK")
    other.close()
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 0
    await db.close()


async def test_a_failing_statement_rolls_back_the_whole_batch(tmp_path):
    db = await _open(tmp_path)
    rows = [(i, "x") for i in range(3 * SLICE)] + [(0, "duplicate id")]
    with pytest.raises(sqlite3.IntegrityError):
        await db.batch([Copy("t", ["id", "v"], rows)])
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 0
    await db.batch([Copy("t", ["id", "v"], rows[:-1])])  # the connection is usable again
    assert await db.fetchval("SELECT COUNT(*) FROM t") == len(rows) - 1
    await db.close()


async def test_concurrent_batches_each_commit_whole(tmp_path):
    """Two batches at once share the loop's connection: one waits for the other's transaction,
    and a failing one rolls back only itself."""
    db = await _open(tmp_path)
    big = [(i, "a") for i in range(10 * SLICE)]
    bad = [(100_000, "b"), (100_000, "b again")]  # fails on its second row
    ok_small = [(200_000, "c")]
    results = await asyncio.gather(
        db.batch([Copy("t", ["id", "v"], big)]),
        db.batch([Copy("t", ["id", "v"], bad)]),
        db.batch([Copy("t", ["id", "v"], ok_small)]),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], sqlite3.IntegrityError) and results[2] is None
    ids = {r["id"] for r in await db.fetch("SELECT id FROM t")}
    assert ids == {i for i, _ in big} | {200_000}
    await db.close()


async def test_the_lock_wait_and_slices_follow_the_log_writer_config(tmp_path):
    db = await _open(tmp_path)
    db.tune_bulk_writes(LogWriterConfig(busy_give_up_s=0.1, loop_slice_rows=4))
    other = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(DatabaseUnavailable):
        await db.batch([Copy("t", ["id", "v"], [(1, "ours")])])
    other.execute("ROLLBACK")
    other.close()
    ticker = _Ticker()
    await asyncio.sleep(0)
    before = ticker.ticks
    await db.batch([Copy("t", ["id", "v"], [(i, "x") for i in range(40)])])
    during = ticker.ticks - before
    await ticker.stop()
    assert during >= 40 // 4 - 1
    assert await db.fetchval("SELECT COUNT(*) FROM t") == 40
    await db.close()
