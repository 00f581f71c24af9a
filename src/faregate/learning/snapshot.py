"""Compaction of the shared learner's updates into one snapshot row (migration 018).

A restarted replica would otherwise replay every update ever made. Every ``SNAPSHOT_EVERY_S``
a replica folds the updates since the last snapshot into it, in sequence order, starting from
the previous snapshot (never from its own in-memory posterior, which applied the updates in
another order and may hold ones not written yet): so the snapshot plus the newer updates,
applied in order, give the same posterior bit for bit as replaying everything in order.

Sequence numbers on PostgreSQL are handed out before commit, so a compaction only folds up to
the highest number it saw at the *previous* compaction, minutes ago: every transaction that
held a lower number has committed or aborted by then. Updates a snapshot holds are deleted once
``KEEP_UPDATES_S`` old (a replica cut off from the database for less than that catches up).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..core.lazy_import import lazy_module
from ..storage.learner_store import LearnerStore
from .bandit import ResidualThompson

if TYPE_CHECKING:
    import numpy as np
else:  # loaded on first use: a gateway that never learns never imports numpy
    np = lazy_module("numpy")

log = logging.getLogger("faregate.learning")

SNAPSHOT_EVERY_S = 300.0
KEEP_UPDATES_S = 86400.0
_PAGE = 5000


async def compact(store: LearnerStore, like: ResidualThompson, upto: int) -> int | None:
    """Fold the updates up to ``upto`` into the snapshot; returns its new ``upto`` (None: nothing new)."""
    snap = await store.snapshot()
    base = snap[0] if snap is not None else 0
    if upto <= base:
        return None
    model = ResidualThompson(like.dim, prior_strength=like.prior_strength, noise=like.noise)
    if snap is not None:
        model.load_state(snap[1])
    seen = base
    while True:
        page = await store.updates_after(seen, _PAGE, upto=upto)
        for u in page:
            model.update(u.model, np.asarray(u.x, dtype=np.float64), u.residual, u.weight)
        if len(page) < _PAGE:
            break
        seen = page[-1].seq
    now = time.time()
    await store.save_snapshot(upto, model.state(), now)
    await store.forget_updates(upto, now - KEEP_UPDATES_S)
    log.info("learner snapshot compacted up to update %d", upto)
    return upto
