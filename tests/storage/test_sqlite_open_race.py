"""Processes or threads opening one new SQLite database at the same moment all get WAL mode:
SQLite answers "database is locked" to a concurrent journal_mode change without waiting on the
busy timeout, which made two request-log writers starting together fail (seen in CI)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from faregate.storage.sqlite_db import _wal


def _open(path: Path, start: threading.Barrier, failed: list[str]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    start.wait()
    try:
        _wal(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    except (sqlite3.OperationalError, AssertionError) as exc:
        failed.append(repr(exc))
    finally:
        conn.close()


def test_connections_opening_a_new_database_together_all_switch_to_wal(tmp_path):
    failed: list[str] = []
    for trial in range(40):
        start = threading.Barrier(4)
        threads = [threading.Thread(target=_open, args=(tmp_path / f"t{trial}.db", start, failed)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failed == []
