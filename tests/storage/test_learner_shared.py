"""The learner's state shared through the request-log database (SQLite and PostgreSQL):
feedback reaching any replica moves every replica, once; a restarted replica resumes."""

from __future__ import annotations

import numpy as np

from faregate.learning.features import DIM
from faregate.learning.loop import LearningLoop
from faregate.learning.shared_state import SharedLearning


def _x(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).random(DIM)
    return x / np.linalg.norm(x)


async def _replica(db_url: str) -> tuple[LearningLoop, SharedLearning]:
    loop = LearningLoop(explore_rate=0.0)
    shared = SharedLearning(loop, db_url, interval_s=60)  # synced by hand here
    await shared.start()
    return loop, shared


async def test_feedback_on_another_replica_moves_both_once(db_url):
    (a, sa), (b, sb) = await _replica(db_url), await _replica(db_url)
    try:
        x = _x(1)
        a.remember("req-1", "cheap", x, 0.8, "key-1")  # replica A answered the request
        await sa.sync()
        assert a.model.mean("cheap", x) == 0.0
        assert await sb.feedback("req-1", 0.1) is True  # the feedback reaches replica B
        await sa.sync()
        moved = a.model.mean("cheap", x)
        assert moved < -0.1  # A now predicts lower quality for requests like it
        assert abs(b.model.mean("cheap", x) - moved) < 1e-9
        assert await sa.feedback("req-1", 0.9) is False  # learned from once in the whole fleet
        await sb.sync()
        assert abs(b.model.mean("cheap", x) - moved) < 1e-9
        assert await sb.feedback("never-routed", 0.5) is False
    finally:
        await sa.close()
        await sb.close()


async def test_implicit_signal_reaches_other_replicas_and_restart_resumes(db_url):
    (a, sa), (b, sb) = await _replica(db_url), await _replica(db_url)
    try:
        x = _x(2)
        a.remember("req-2", "flaky", x, 0.7, None)
        a.signal_failure("req-2")  # an upstream failure on A: quality 0
        await sa.sync()
        await sb.sync()
        assert b.model.mean("flaky", x) < -0.2
        assert abs(b.model.mean("flaky", x) - a.model.mean("flaky", x)) < 1e-9
        assert b.snapshot_id == a.snapshot_id  # the same posterior: the same policy version
    finally:
        await sa.close()
        await sb.close()
    c, sc = await _replica(db_url)  # a restart: a fresh process on the same database
    try:
        assert abs(c.model.mean("flaky", x) - a.model.mean("flaky", x)) < 1e-9
        assert c.model.observations("flaky") == 1
    finally:
        await sc.close()
