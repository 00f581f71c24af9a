"""One spill file shared by several writers (``faregate serve --workers N``: every worker writes
the same database, so the same default spill path): replays that overlap, in one process or in
several, store every spilled record exactly once and leave no copy behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from faregate.storage import log_spill
from faregate.storage.db import Database
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord


def rec(i: int) -> RequestRecord:
    return RequestRecord(id=f"r{i}", ts=time.time(), key_id="k1", model="big", input_tokens=10, output_tokens=1)


async def stored(url: str) -> tuple[int, int, int]:
    """Rows, distinct ids, and requests counted by the rollup."""
    db = await Database.open(url)
    try:
        rows = int(await db.fetchval("SELECT COUNT(*) FROM request_log"))
        ids = int(await db.fetchval("SELECT COUNT(DISTINCT id) FROM request_log"))
        rolled = int(await db.fetchval("SELECT SUM(requests) FROM request_rollup WHERE dim = 'all'") or 0)
        return rows, ids, rolled
    finally:
        await db.close()


def test_a_copy_being_replayed_is_left_to_its_replayer(tmp_path):
    """The interleaving two workers can produce: the second replayer gets nothing while the
    first holds its copy, records spilled meanwhile wait in a fresh file, and a replayer that
    stopped without ``done`` (a failed write, a crash) lets its copy be taken again."""
    path = tmp_path / "log.db.spill.jsonl"
    log_spill.append(path, [rec(1), rec(2)])
    first = log_spill.take(path)
    assert first is not None and [r.id for r in first.records] == ["r1", "r2"]
    assert log_spill.take(path) is None  # another worker: not the same rows a second time
    log_spill.append(path, [rec(3)])
    assert log_spill.take(path) is None  # the fresh file waits: the copy is still being replayed
    first.release()  # the replay failed
    again = log_spill.take(path)
    assert again is not None and [r.id for r in again.records] == ["r1", "r2"]
    again.done()
    last = log_spill.take(path)
    assert last is not None and [r.id for r in last.records] == ["r3"]
    again.done()  # a second time: leaves the copy taken since alone
    assert log_spill.pending(path) and log_spill.take(path) is None
    last.done()
    assert log_spill.take(path) is None and not log_spill.pending(path)


def test_a_spill_file_moved_aside_while_checked_is_no_error(tmp_path, monkeypatch):
    """Another worker may move the spill file aside between a look at it and a look at its
    size: ``pending`` answers from what it saw, and the next ``take`` decides."""
    path = tmp_path / "log.db.spill.jsonl"
    log_spill.append(path, [rec(1)])
    real_stat, moved = os.stat, []

    def stat_then_moved_aside(p, *a, **kw):
        st = real_stat(p, *a, **kw)
        if os.fspath(p) == os.fspath(path) and not moved:
            os.replace(path, log_spill._replaying(path))  # the other worker's take, just after
            moved.append(True)
        return st

    monkeypatch.setattr(os, "stat", stat_then_moved_aside)
    assert log_spill.pending(path)
    monkeypatch.undo()
    with log_spill.take(path) as claim:  # the moved-aside copy, still claimed once
        assert [r.id for r in claim.records] == ["r1"]
        claim.done()
    assert not log_spill.pending(path)


async def test_two_writers_replaying_one_spill_file_store_each_record_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    spill = tmp_path / "log.db.spill.jsonl"
    writers = [LogWriter(url, spill_path=spill, batch_size=20) for _ in range(2)]
    n = 0

    async def spill_more() -> None:  # a third worker spilling while the two replay
        nonlocal n
        for _ in range(30):
            log_spill.append(spill, [rec(n + i) for i in range(10)])
            n += 10
            await asyncio.sleep(0)

    try:
        for _ in range(5):
            log_spill.append(spill, [rec(n + i) for i in range(100)])
            n += 100
            await asyncio.gather(spill_more(), *(w.flush() for w in writers), *(w.flush() for w in writers))
        await asyncio.gather(*(w.flush() for w in writers))
    finally:
        for w in writers:
            await w.close()
    assert await stored(url) == (n, n, n)
    assert sum(w.replayed for w in writers) == n and all(w.dropped == 0 for w in writers)
    assert not log_spill.pending(spill)


_WORKER = """
import asyncio, pathlib, sys, time
from faregate.storage import log_spill
from faregate.storage.request_log import LogWriter
from faregate.storage.request_record import RequestRecord

async def main(url, spill, name):
    w = LogWriter(url, spill_path=spill, batch_size=25)
    for round_ in range(20):
        recs = [RequestRecord(id=f"{name}-{round_}-{i}", ts=time.time(), model="big") for i in range(50)]
        log_spill.append(pathlib.Path(spill), recs)  # the database was away: spilled
        await w.flush()
    await w.close()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_processes_replaying_one_spill_file_store_each_record_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}"
    spill = tmp_path / "log.db.spill.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(spill), name], env=env, stderr=subprocess.PIPE, text=True
        )
        for name in ("w0", "w1")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    assert await stored(url) == (2000, 2000, 2000)
    assert not log_spill.pending(spill)


async def test_a_replayed_spill_leaves_no_file_behind(tmp_path):
    """The lock file goes with the last replayed record: a gateway that once spilled into its
    working directory does not leave a file there."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    spill = tmp_path / "spill.jsonl"
    log_spill.append(spill, [rec(i) for i in range(30)])
    assert (tmp_path / "spill.jsonl.lock").exists()
    w = LogWriter(url, spill_path=spill, batch_size=10)
    await w.flush()
    await w.close()
    assert w.replayed == 30 and await stored(url) == (30, 30, 30)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("spill")) == []
