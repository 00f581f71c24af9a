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


def _same_posterior(p: LearningLoop, q: LearningLoop) -> None:
    assert p.model.state() == q.model.state()  # bit for bit, not merely close
    assert p.snapshot_id == q.snapshot_id


async def _learn(loop: LearningLoop, shared: SharedLearning, start: int, n: int) -> None:
    for i in range(start, start + n):
        loop.remember(f"req-s{i}", ("cheap", "big")[i % 2], _x(100 + i), 0.6, None)
        loop.signal_failure(f"req-s{i}") if i % 3 else loop.signal_slow(f"req-s{i}")
    await shared.sync()


async def test_restart_resumes_from_the_snapshot_and_replays_only_newer_updates(db_url):
    a, sa = await _replica(db_url)
    try:
        await _learn(a, sa, 0, 30)
        assert await sa.compact() is None  # nothing seen at the previous compaction (the start)
        await _learn(a, sa, 30, 20)
        first = await sa.compact()  # folds the 30 stored before the previous call
        assert first is not None
        await _learn(a, sa, 50, 10)
        second = await sa.compact()  # folds up to the 50th
        assert second is not None and second > first
        await _learn(a, sa, 60, 7)  # after the snapshot: replayed at restart
    finally:
        await sa.close()
    c, sc = await _replica(db_url)  # a restart: the snapshot plus 17 updates, not all 67
    try:
        assert sc.remote_applied == 17
        _same_posterior(c, a)
        assert c.model.observations("cheap") + c.model.observations("big") == 67
        await _learn(c, sc, 67, 3)  # and it goes on learning, shared as before
    finally:
        await sc.close()
    d, sd = await _replica(db_url)
    try:
        assert sd.remote_applied == 20
        _same_posterior(d, c)
    finally:
        await sd.close()


async def test_a_retry_landing_on_another_replica_counts_against_the_first_answer(db_url):
    (a, sa), (b, sb) = await _replica(db_url), await _replica(db_url)
    try:
        x = _x(7)
        prompt = "Please write a haiku about the sea at night, with the moon in it."
        assert a.retry_of("req-r1", "key-r", prompt) is None  # routed by A: its fingerprint is kept
        a.remember("req-r1", "cheap", x, 0.8, "key-r", answered=True)  # answered by A
        await sa.sync()  # A's batch: its decision and the prompt's fingerprint
        await sb.sync()
        retry = prompt.replace("Please write", "Please, write")
        assert b.retry_of("req-r2", "key-r", retry) is None  # A's answer: B hands the signal to A's row
        b.remember("req-r2", "big", _x(8), 0.8, "key-r", answered=True)
        assert b.retry_of("req-r3", "other-key", prompt) is None  # another key's prompt: no retry
        b.remember("req-r3", "big", _x(9), 0.8, "other-key", answered=True)
        await sb.sync()  # B finds A's decision and learns "retried" on it
        assert sb.retries.remote_retries == 1
        assert -0.05 - 1e-9 <= b.model.mean("cheap", x) < -0.04  # one retry: one bounded step down
        await sa.sync()
        assert abs(a.model.mean("cheap", x) - b.model.mean("cheap", x)) < 1e-9  # shared like any update
        assert a.model.observations("cheap") == 1 and a.model.observations("big") == 0
    finally:
        await sa.close()
        await sb.close()
