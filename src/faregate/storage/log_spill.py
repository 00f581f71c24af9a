"""The request log's spill file: JSONL records kept while the database cannot take them.

``append`` adds records; ``take`` moves the file aside (records spilled meanwhile land in a
fresh file) and claims the moved-aside copy for replay; the claim's ``done`` removes it once its
records are stored. A crash during a replay leaves the copy, which the next ``take`` returns first.

Several processes share one spill file (``faregate serve --workers N``: every worker writes the
same database and so the same default spill path), so whatever changes the files is done under
an exclusive ``flock`` on ``<spill>.lock`` beside it (short: a write, a rename, an unlink, never
a replay). The copy being replayed carries a ``flock`` of its own, held by its replayer until
``done``: a second replayer leaves it alone, and a crashed replayer's lock goes with its
process, so its copy is taken again. The lock file is removed when a replay leaves nothing
spilled; a process that locked a lock file since removed (its inode no longer the path's) opens
the path again, so every holder always locks the same file. Without ``fcntl`` (not POSIX)
nothing is locked: one process only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import orjson

from .db import sqlite_path
from .request_record import COLUMNS, RequestRecord

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def default_spill_path(url: str) -> str:
    """Next to the SQLite file, or ``faregate-log-spill.jsonl`` in the working directory."""
    p = sqlite_path(url)
    if p and p != ":memory:":
        return p + ".spill.jsonl"
    return "faregate-log-spill.jsonl"


def _replaying(path: Path) -> Path:
    return path.with_name(path.name + ".replaying")


@contextlib.contextmanager
def _locked(path: Path, *, tidy: bool = False) -> Iterator[None]:
    """Hold the spill file's lock (every process that appends, takes or finishes a replay);
    ``tidy``: remove the lock file on the way out when nothing is spilled any more."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            break
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break  # the lock file every other holder locks too
        except FileNotFoundError:
            pass
        os.close(fd)  # removed by a tidy holder meanwhile: lock the path's file instead
    try:
        yield
        if tidy and not pending(path):
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
    finally:
        os.close(fd)  # releases the lock


def append(path: Path, records: list[RequestRecord]) -> None:
    """Add ``records`` in one write (raises ``OSError`` if the file cannot take them)."""
    data = b"".join(orjson.dumps({c: getattr(r, c) for c in COLUMNS}) + b"\n" for r in records)
    with _locked(path), open(path, "ab") as f:  # not into a file being moved aside
        f.write(data)


def _has_lines(path: Path) -> bool:
    try:
        return os.stat(path).st_size > 0
    except FileNotFoundError:  # never spilled, or moved aside by another process just now
        return False


def pending(path: Path) -> bool:
    """Whether anything waits for a replay (a hint: ``take`` decides)."""
    return _replaying(path).exists() or _has_lines(path)


class Claim:
    """Records moved aside for one replayer, who holds them (a ``flock`` on the copy) until
    ``done`` removes them or leaving the ``with`` block lets them go for a later ``take``."""

    def __init__(self, path: Path, fd: int, records: list[RequestRecord]) -> None:
        self.path, self._fd, self.records = path, fd, records

    def done(self) -> None:
        """The records are stored: remove the copy (this one: a copy taken since is not ours)."""
        if self._fd < 0:
            return  # done already, or let go
        work = _replaying(self.path)
        with _locked(self.path, tidy=True):
            with contextlib.suppress(FileNotFoundError):
                if os.stat(work).st_ino == os.fstat(self._fd).st_ino:
                    work.unlink()
            self.release()

    def release(self) -> None:
        """Let the records go without removing them (the replay failed): a later ``take`` has them."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.release()


def _claim(work: Path) -> int | None:
    """A descriptor of ``work`` holding its lock, or None while another replayer holds it."""
    fd = os.open(work, os.O_RDONLY)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
    return fd


def take(path: Path) -> Claim | None:
    """The next records to replay, claimed (None when none are left, or another replayer holds them)."""
    if not pending(path):
        return None  # nothing spilled: no lock taken, so no lock file beside a spill that never was
    work = _replaying(path)
    with _locked(path):  # the check and the move at once: never over a copy not replayed yet
        if not work.exists():
            if not _has_lines(path):
                return None
            os.replace(path, work)
        fd = _claim(work)
    if fd is None:
        return None
    claim = Claim(path, fd, [])
    try:
        with open(os.dup(fd), "rb") as f:  # ours now: nothing writes into a moved-aside copy
            claim.records = [RequestRecord(**orjson.loads(line)) for line in f.read().splitlines() if line.strip()]
    except BaseException:
        claim.release()
        raise
    return claim
