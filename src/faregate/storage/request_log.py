"""The request log: one ``RequestRecord`` per request, written in batches by one ``LogWriter``.

Gateway use::

    writer = LogWriter(config.database_url, spill_path="faregate-spill.jsonl")
    await writer.start()          # never raises: an unreachable database only means queueing
    writer.append(record)         # sync, O(1), never blocks, never raises
    await writer.close()          # flushes everything (to the database, or to the spill file)

Nothing is lost: records queue in memory up to ``max_queue``; while the database is down the
overflow goes to the JSONL spill file, replayed (idempotently: ``ON CONFLICT (id) DO NOTHING``)
once the database answers again. ``dropped`` counts records that could go nowhere (the spill
file itself failing); it is 0 in every test.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import operator
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import orjson

from . import rollup
from .db import Copy, Database, DatabaseUnavailable

log = logging.getLogger("faregate.request_log")


@dataclass(slots=True)
class RequestRecord:
    id: str
    ts: float
    key_id: str | None = None
    team: str | None = None
    route: str | None = None
    requested_model: str | None = None
    model: str | None = None  # the model that answered
    deployment: str | None = None
    plan_kind: str | None = None
    plan_models: list[str] = field(default_factory=list)
    models_called: list[str] = field(default_factory=list)
    pred_quality: float | None = None
    pred_cost_usd: float | None = None
    pred_latency_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    status: int = 200
    error_class: str | None = None
    attempts: int = 0
    fallback_used: bool = False
    cache_hit: bool = False
    constraint_unmet: bool = False
    client_disconnect: bool = False
    latency_ceiling_ms: float | None = None
    latency_met: bool | None = None
    arm: str | None = None
    task: str | None = None
    prompt: str | None = None
    answer: str | None = None
    extra: dict[str, Any] | None = None

    def to_values(self) -> tuple:
        """The values as stored, in ``COLUMNS`` order (lists/dicts as JSON text, booleans as 0/1)."""
        v = list(_VALUES(self))
        for i in _JSON_AT:
            if v[i] is not None:
                v[i] = orjson.dumps(v[i]).decode()
        for i in _FLAG_AT:
            v[i] = 1 if v[i] else 0
        if v[_MET_AT] is not None:  # unknown (no ceiling) stays NULL
            v[_MET_AT] = 1 if v[_MET_AT] else 0
        return tuple(v)

    def to_row(self) -> dict[str, Any]:
        """Column name -> value as stored."""
        return dict(zip(COLUMNS, self.to_values()))

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RequestRecord:
        d = {f.name: row.get(f.name) for f in fields(cls)}
        for k in ("plan_models", "models_called", "extra"):
            if isinstance(d[k], (str, bytes)):
                d[k] = orjson.loads(d[k])
        for k in ("plan_models", "models_called"):
            d[k] = d[k] or []
        for k in ("fallback_used", "cache_hit", "constraint_unmet", "client_disconnect"):
            d[k] = bool(d[k])
        if d["latency_met"] is not None:
            d["latency_met"] = bool(d["latency_met"])
        return cls(**d)


COLUMNS = tuple(f.name for f in fields(RequestRecord))
_VALUES = operator.attrgetter(*COLUMNS)
_JSON_AT = tuple(COLUMNS.index(c) for c in ("plan_models", "models_called", "extra"))
_FLAG_AT = tuple(COLUMNS.index(c) for c in ("fallback_used", "cache_hit", "constraint_unmet", "client_disconnect"))
_MET_AT = COLUMNS.index("latency_met")
# -- the writer -----------------------------------------------------------------------------------


class LogWriter:
    """Bounded queue + one writer task; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        max_queue: int = 50_000,
        spill_path: str | os.PathLike | None = None,
        retry_interval: float = 1.0,
        db: Database | None = None,
    ) -> None:
        self.url = url
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.retry_interval = retry_interval
        self.spill_path = Path(spill_path) if spill_path else Path(default_spill_path(url))
        self.db: Database | None = db
        self._queue: collections.deque[RequestRecord] = collections.deque()
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()  # one writer at a time: the task, or flush()/close()
        self._task: asyncio.Task | None = None
        self._closing = False
        self._closed = False
        self.dropped = 0
        self.written = 0
        self.spilled = 0
        self.replayed = 0
        self.batches = 0
        self.db_errors = 0
        # Recent request id -> key id, so feedback on a request still queued is accepted.
        self.recent: collections.OrderedDict[str, str | None] = collections.OrderedDict()
        self.recent_max = 100_000

    # public ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="faregate-log-writer")

    def append(self, record: RequestRecord) -> None:
        """Queue one record; never blocks, never raises."""
        try:
            if self._closed:  # a request that finished after shutdown: straight to the spill file
                self._spill([record])
                return
            self._queue.append(record)
            self.recent[record.id] = record.key_id
            if len(self.recent) > self.recent_max:
                self.recent.popitem(last=False)
            if len(self._queue) > self.max_queue:
                # Over the bound (the database is down or slow): the oldest tenth goes to the spill
                # file in one write, so the cost per record stays small.
                self._spill(self._take(len(self._queue) - self.max_queue + max(1, self.max_queue // 10)))
            if len(self._queue) >= self.batch_size:
                self._wake.set()
        except Exception:
            self.dropped += 1
            log.exception("request log append failed")

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        return {
            "pending": self.pending,
            "written": self.written,
            "spilled": self.spilled,
            "replayed": self.replayed,
            "dropped": self.dropped,
            "batches": self.batches,
        }

    async def flush(self) -> None:
        """Write everything queued now (and any spill file) if the database answers."""
        async with self._io:  # waits for a batch the writer task has in flight
            await self._ensure_db()
            await self._drain()

    async def _drain(self) -> None:
        await self._replay_spill()
        while self._queue:
            batch = self._take(self.batch_size)
            try:
                await self._write(batch)
            except BaseException:
                self._queue.extendleft(reversed(batch))
                raise

    async def close(self) -> None:
        """Stop the writer and flush everything: to the database, or to the spill file."""
        self._closing = True
        if self._task is not None:
            async with self._io:  # never cancel a batch mid-transaction: wait for it, then stop
                self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), timeout=20)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001
            log.warning(
                "request log: database unavailable at shutdown (%s); %d record(s) spilled to %s",
                exc,
                len(self._queue),
                self.spill_path,
            )
            self._spill(self._take(len(self._queue)))
        self._closed = True
        if self.db is not None:
            try:
                await self.db.close()
            except Exception:  # noqa: BLE001
                pass
            self.db = None

    # internals ------------------------------------------------------------------------------

    def _take(self, n: int) -> list[RequestRecord]:
        q = self._queue
        return [q.popleft() for _ in range(min(n, len(q)))]

    def _spill(self, records: list[RequestRecord]) -> None:
        if not records:
            return
        try:
            self.spill_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.spill_path, "ab") as f:
                f.write(b"".join(orjson.dumps({c: getattr(r, c) for c in COLUMNS}) + b"\n" for r in records))
            self.spilled += len(records)
        except OSError:
            self.dropped += len(records)
            log.exception("request log: could not spill %d record(s) to %s", len(records), self.spill_path)

    async def _ensure_db(self) -> Database:
        if self.db is None:
            db = await Database.open(self.url)
            try:
                await db.migrate("request_log")
            except Exception:
                await db.close()
                raise
            self.db = db
        return self.db

    async def _write(self, batch: list[RequestRecord]) -> None:
        db = await self._ensure_db()
        stmts = await _prepare(batch)
        try:
            try:
                await db.batch(stmts)
            except DatabaseUnavailable:
                raise
            except Exception:
                # A duplicate id (a batch whose commit was acknowledged too late, then retried):
                # write only the records not stored yet, so rows and rollups count each once.
                fresh = await self._not_stored(db, batch)
                if len(fresh) == len(batch):
                    raise
                if fresh:
                    await db.batch(await _prepare(fresh))
        except DatabaseUnavailable:
            # The connection is likely gone: reopen on the next attempt.
            self.db = None
            try:
                await db.close()
            except Exception:  # noqa: BLE001
                pass
            raise
        self.written += len(batch)
        self.batches += 1

    @staticmethod
    async def _not_stored(db: Database, records: list[RequestRecord]) -> list[RequestRecord]:
        seen: set[str] = set()
        for i in range(0, len(records), 500):
            ids = [r.id for r in records[i : i + 500]]
            marks = ", ".join(f"${j + 1}" for j in range(len(ids)))
            seen |= {r["id"] for r in await db.fetch(f"SELECT id FROM request_log WHERE id IN ({marks})", *ids)}
        out, dup = [], set()
        for r in records:
            if r.id not in seen and r.id not in dup:
                dup.add(r.id)
                out.append(r)
        return out

    async def _replay_spill(self) -> None:
        path = self.spill_path
        work = path.with_name(path.name + ".replaying")
        if not work.exists() and (not path.exists() or path.stat().st_size == 0):
            return
        await self._ensure_db()  # only move files around once the database answers
        while True:
            if not work.exists():
                if not path.exists() or path.stat().st_size == 0:
                    return
                # Move aside first so records spilled during the replay land in a fresh file.
                os.replace(path, work)
            records = [RequestRecord(**orjson.loads(line)) for line in work.read_bytes().splitlines() if line.strip()]
            for i in range(0, len(records), self.batch_size):
                # Idempotent: ids already stored (a crash mid-replay) are skipped, so neither the
                # row nor its rollup counts twice.
                chunk = await self._not_stored(await self._ensure_db(), records[i : i + self.batch_size])
                if chunk:
                    await self._write(chunk)
                self.replayed += len(chunk)
            work.unlink()
            log.info("request log: replayed %d spilled record(s)", len(records))

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                async with self._io:
                    await self._drain()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database is down: keep queueing, retry later
                self.db_errors += 1
                if self.db_errors == 1 or self.db_errors % 100 == 0:
                    log.warning("request log: database unavailable (%s); %d record(s) queued", exc, len(self._queue))
                await asyncio.sleep(self.retry_interval)


PREPARE_SLICE = 128


async def _prepare(batch: list[RequestRecord]) -> list[Any]:
    """The batch's rows and rollup upserts, built on the event loop a slice at a time.

    A few microseconds per record (``bench/bench_log_writer.py``). On the loop rather than in a
    worker thread: Python work in a second thread competes with the request path for the GIL
    on the same core, and the hand-offs cost more than the work. Slices of ``PREPARE_SLICE``
    records keep each pause of the loop well under a millisecond."""
    values: list[tuple] = []
    acc = rollup.Accumulator()
    for i in range(0, len(batch), PREPARE_SLICE):
        if i:
            await asyncio.sleep(0)
        part = batch[i : i + PREPARE_SLICE]
        values += [r.to_values() for r in part]
        acc.add(part)
    return [Copy("request_log", COLUMNS, values), *acc.statements()]


def default_spill_path(url: str) -> str:
    """Next to the SQLite file, or ``faregate-log-spill.jsonl`` in the working directory."""
    from .db import sqlite_path

    p = sqlite_path(url)
    if p and p != ":memory:":
        return p + ".spill.jsonl"
    return os.environ.get("FAREGATE_LOG_SPILL", "faregate-log-spill.jsonl")


def now() -> float:
    return time.time()
