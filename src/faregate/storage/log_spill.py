"""The request log's spill file: JSONL records kept while the database cannot take them.

``append`` adds records; ``take`` moves the file aside (records spilled meanwhile land in a
fresh file) and reads it back for replay; ``done`` removes the replayed copy. A crash during a
replay leaves the moved-aside copy, which the next ``take`` returns first.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from .db import sqlite_path
from .request_record import COLUMNS, RequestRecord


def default_spill_path(url: str) -> str:
    """Next to the SQLite file, or ``faregate-log-spill.jsonl`` in the working directory."""
    p = sqlite_path(url)
    if p and p != ":memory:":
        return p + ".spill.jsonl"
    return "faregate-log-spill.jsonl"


def _replaying(path: Path) -> Path:
    return path.with_name(path.name + ".replaying")


def append(path: Path, records: list[RequestRecord]) -> None:
    """Add ``records`` in one write (raises ``OSError`` if the file cannot take them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps({c: getattr(r, c) for c in COLUMNS}) + b"\n" for r in records))


def _has_lines(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def pending(path: Path) -> bool:
    """Whether anything waits for a replay."""
    return _replaying(path).exists() or _has_lines(path)


def take(path: Path) -> list[RequestRecord] | None:
    """The next records to replay (None when there are none left)."""
    work = _replaying(path)
    if not work.exists():
        if not _has_lines(path):
            return None
        os.replace(path, work)
    return [RequestRecord(**orjson.loads(line)) for line in work.read_bytes().splitlines() if line.strip()]


def done(path: Path) -> None:
    """The records ``take`` returned are stored: forget them."""
    _replaying(path).unlink()
