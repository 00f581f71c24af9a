"""Retry detection across replicas: the prompt fingerprints of ``RetryDetector`` shared.

A retry (the same key sending a near-duplicate prompt soon after) says the earlier answer did
not satisfy; behind a balancer the retry usually lands on another replica. So each replica
writes the SimHash of every routed prompt with its decision (``learner_prompts``, migration 018,
in the learner's sync batch) and adds the other replicas' to its own detector at each sync. A
retry of a request answered elsewhere is found here; its decision is read from
``learner_decisions`` (written in the same transaction as the fingerprint) and the "retried"
signal is applied here, then shared like any update. Cost: one row per routed prompt, written in
the batch, and one indexed read per sync; a fingerprint written under a PostgreSQL sequence
number lower than one read already is missed (a retry not detected, nothing wrong learned).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..core.lazy_import import lazy_module
from ..storage.learner_store import LearnerStore, StoredPrompt
from .loop import Decision

if TYPE_CHECKING:
    import numpy as np

    from .loop import LearningLoop
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")


class SharedRetries:
    """One replica's queue of fingerprints to write and of retries found for others' requests."""

    def __init__(self, loop: LearningLoop, origin: str) -> None:
        self.loop = loop
        self.origin = origin
        self.prompts: list[StoredPrompt] = []
        self._retried: list[str] = []
        self._seen = 0
        self.remote_retries = 0

    def hook(self) -> None:
        self.loop.on_prompt = self._prompted
        self.loop.on_retry_elsewhere = self._retry_elsewhere

    def _prompted(self, key_id: str, fingerprint: int, request_id: str) -> None:
        self.prompts.append(StoredPrompt(0, self.origin, key_id, fingerprint, request_id, time.time()))

    def _retry_elsewhere(self, request_id: str) -> None:
        self._retried.append(request_id)

    def take(self) -> list[StoredPrompt]:
        out, self.prompts = self.prompts, []
        return out

    async def apply(self, store: LearnerStore) -> None:
        """Learn the others' prompts, apply the retries found since (before this replica's write)."""
        now = time.time()
        window = self.loop.retries.window_s
        while True:
            got = await store.prompts_after(self._seen, now - window)
            for p in got:
                if p.origin != self.origin:
                    self.loop.retries.add(p.key_id, p.fingerprint, p.request_id, now - p.at)
            if got:
                self._seen = got[-1].seq
            if len(got) < 5000:
                break
        retried, self._retried = self._retried, []
        for rid in retried:
            d = await store.unsettled(rid)
            if d is None:
                continue
            x = np.asarray(d.x, dtype=np.float64)
            self.loop.adopt(rid, Decision(d.model, x, d.predicted, d.key_id, d.at))
            if self.loop.signal_retried(rid):
                self.remote_retries += 1
