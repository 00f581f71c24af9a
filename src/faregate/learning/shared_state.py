"""The learning loop shared by every replica on one database (``storage/learner_store.py``).

Each replica queues what its ``LearningLoop`` remembers and learns (the loop's persistence
hooks) and, every ``learning.sync_interval_s`` (1 s), writes the queue in one transaction and
applies the updates the other replicas wrote since its last read. So feedback or an implicit
signal received by any replica moves every replica's predictions within about one interval.
At start a replica loads the compacted snapshot (``learning/snapshot.py``) and replays the
updates stored after it: a restart resumes from what the fleet learned, not from the offline
router alone, without replaying the whole history. Explicit feedback is settled in the database, so a request
is learned from once in the whole fleet whichever replica the feedback reaches.

Updates commute (Bayesian linear regression: precision and residual sums add up), so replicas
that applied the same set in different orders hold the same posterior up to rounding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import TYPE_CHECKING

from ..core.ids import issued_within
from ..core.lazy_import import lazy_module
from ..core.tasks import cancel_task
from ..storage.db import DatabaseUnavailable
from ..storage.learner_store import LearnerStore, StoredDecision, StoredUpdate
from .loop import Decision, LearningLoop
from .shared_retries import SharedRetries
from .snapshot import SNAPSHOT_EVERY_S, compact

if TYPE_CHECKING:
    import numpy as np
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")

log = logging.getLogger("faregate.learning")

# PostgreSQL hands out sequence numbers before commit, so a lower one can appear after a higher
# one was read: each read looks this far back and skips what it applied already.
_REORDER_WINDOW = 1000
# Feedback comes within minutes or days, not weeks: older decisions are dropped (hourly).
DECISION_KEEP_S = 7 * 86400
_PRUNE_EVERY_S = 3600.0


class SharedLearning:
    """One replica's link between its ``LearningLoop`` and the shared tables."""

    def __init__(self, loop: LearningLoop, database_url: str, interval_s: float = 1.0) -> None:
        self.loop = loop
        self.url = database_url
        self.interval_s = interval_s
        self.origin = uuid.uuid4().hex  # this process: its own updates are not applied twice
        self.store: LearnerStore | None = None
        self._decisions: list[StoredDecision] = []
        self._updates: list[StoredUpdate] = []
        self._seen_to = 0
        self._floor = 0  # the snapshot holds every update up to it: never read below
        self._compact_next = 0  # what the next compaction may fold: the highest seq seen at the last
        self._applied: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.remote_applied = 0
        self.retries = SharedRetries(loop, self.origin)

    async def start(self) -> None:
        try:
            self.store = await LearnerStore.open(self.url)
        except DatabaseUnavailable as exc:
            log.error("learner state not shared (the database cannot be reached): %s", exc)
            return
        await self._load_snapshot()
        await self.sync()  # the replay: every update the fleet made since the snapshot
        self._compact_next = await self.store.max_seq()
        self.loop.on_remember = self._remembered
        self.loop.on_learn = self._learned
        self.retries.hook()
        self._task = asyncio.create_task(self._run(), name="faregate-learner-sync")

    async def close(self) -> None:
        await cancel_task(self._task)
        self._task = None
        if self.store is not None:
            with contextlib.suppress(Exception):
                await self.sync()  # what this replica learned last is not lost
            await self.store.close()
            self.store = None

    def _remembered(self, request_id: str, d: Decision) -> None:
        self._decisions.append(StoredDecision(request_id, d.model, d.x.tolist(), d.predicted_quality, d.key_id, d.at))

    def _learned(self, model: str, x: np.ndarray, residual: float, weight: float, reason: str) -> None:
        self._updates.append(StoredUpdate(0, self.origin, model, x.tolist(), residual, weight, reason, time.time()))

    async def sync(self) -> None:
        """Write what is queued, then apply what the other replicas wrote."""
        if self.store is None:
            return
        async with self._lock:
            await self.retries.apply(self.store)  # before the write: what it learns goes out now
            decisions, updates, prompts = self._decisions, self._updates, self.retries.take()
            self._decisions, self._updates = [], []
            try:
                await self.store.write(decisions, updates, prompts)
            except Exception:
                self._decisions[:0], self._updates[:0] = decisions, updates  # retried next time
                self.retries.prompts[:0] = prompts
                raise
            while True:
                got = await self.store.updates_after(max(self._floor, self._seen_to - _REORDER_WINDOW))
                fresh = [u for u in got if u.seq not in self._applied]
                for u in fresh:
                    self._applied.add(u.seq)
                    if u.origin != self.origin:
                        self.loop.learn_remote(u.model, np.asarray(u.x, dtype=np.float64), u.residual, u.weight)
                        self.remote_applied += 1
                if got:
                    self._seen_to = max(self._seen_to, got[-1].seq)
                floor = self._seen_to - _REORDER_WINDOW
                self._applied = {s for s in self._applied if s > floor}
                if len(got) < 5000 or not fresh:
                    return

    async def feedback(self, request_id: str, score: float) -> bool:
        """Explicit feedback received by this replica, for a request any replica answered."""
        if self.store is None:
            return self.loop.feedback(request_id, score)
        await self.sync()  # this replica's own recent decisions are in the table first
        stored = await self._settle(request_id)
        if stored is None:
            return False
        x = np.asarray(stored.x, dtype=np.float64)
        self.loop.adopt(request_id, Decision(stored.model, x, stored.predicted, stored.key_id, stored.at))
        learned = self.loop.feedback(request_id, score)
        await self.sync()  # the others see it at their next read
        return learned

    async def _settle(self, request_id: str) -> StoredDecision | None:
        """Settle the stored decision; the replica that answered writes it within one of its sync
        intervals of routing (right after the id was issued), so an unknown one is looked for a
        little longer, only while the id is that young (settled already, or older: at once)."""
        assert self.store is not None
        grace = min(2 * self.interval_s + 1.0, 3.0)
        deadline = time.monotonic() + (grace if issued_within(request_id, grace) else 0.0)
        while True:
            stored = await self.store.settle(request_id)
            if stored is not None or time.monotonic() >= deadline or await self.store.known(request_id):
                return stored
            await asyncio.sleep(0.2)

    async def _load_snapshot(self) -> None:
        assert self.store is not None
        snap = await self.store.snapshot()
        if snap is None:
            return
        upto, state, _at = snap
        self.loop.model.load_state(state)
        self.loop.updates += sum(int(s["n"]) for s in state.values())
        self._seen_to = self._floor = upto
        log.info("learner resumed from the snapshot up to update %d", upto)

    async def compact(self) -> int | None:
        """Fold what was stored up to the previous call into the snapshot (see ``snapshot.py``)."""
        if self.store is None:
            return None
        target, self._compact_next = self._compact_next, await self.store.max_seq()
        return await compact(self.store, self.loop.model, target) if target else None

    async def _run(self) -> None:
        pruned, compacted = 0.0, time.monotonic()
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sync()
                if time.monotonic() - compacted > SNAPSHOT_EVERY_S:
                    compacted = time.monotonic()
                    await self.compact()
                    if self.store is not None:  # fingerprints matter for one retry window only
                        await self.store.forget_prompts_before(time.time() - self.loop.retries.window_s)
                if self.store is not None and time.monotonic() - pruned > _PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    await self.store.forget_before(time.time() - DECISION_KEEP_S)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("learner state sync failed; retrying")
