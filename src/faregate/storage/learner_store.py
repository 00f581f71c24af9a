"""The learning loop's shared state in the request-log database (migration 013).

Two tables: ``learner_decisions`` (what each routed request decided, so feedback that reaches
any replica can be learned from) and ``learner_updates`` (every posterior update, append-only,
with the process that made it). ``learning/shared_state.py`` writes both in batches and applies
the other replicas' updates as they appear. ``learner_snapshots`` (migration 018) holds the
posterior compacted up to an update's sequence number: a restarted replica loads it and replays
only the newer updates (``learning/snapshot.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from .db import Database, Statement


@dataclass(frozen=True, slots=True)
class StoredDecision:
    request_id: str
    model: str
    x: list[float]
    predicted: float
    key_id: str | None
    at: float


@dataclass(frozen=True, slots=True)
class StoredUpdate:
    seq: int
    origin: str
    model: str
    x: list[float]
    residual: float
    weight: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class StoredPrompt:
    seq: int
    origin: str
    key_id: str
    fingerprint: int  # the prompt's 64-bit SimHash (``learning/signals.py``)
    request_id: str
    at: float


_INSERT_PROMPT = "INSERT INTO learner_prompts (origin, key_id, fingerprint, request_id, at) VALUES ($1, $2, $3, $4, $5)"
_INSERT_DECISION = (
    "INSERT INTO learner_decisions (request_id, model, x, predicted, key_id, at) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (request_id) DO NOTHING"
)
_INSERT_UPDATE = (
    "INSERT INTO learner_updates (origin, model, x, residual, weight, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


class LearnerStore:
    """Batched writes and incremental reads of the learner's tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, database_url: str) -> LearnerStore:
        db = await Database.open(database_url)
        await db.migrate("request_log")
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def write(
        self,
        decisions: Sequence[StoredDecision],
        updates: Sequence[StoredUpdate],
        prompts: Sequence[StoredPrompt] = (),
    ) -> None:
        """All in one transaction (an update or a prompt is never visible without its decision)."""
        batch: list[Statement] = []
        if decisions:
            rows = [(d.request_id, d.model, orjson.dumps(d.x).decode(), d.predicted, d.key_id, d.at) for d in decisions]
            batch.append((_INSERT_DECISION, rows))
        if updates:
            rows2 = [
                (u.origin, u.model, orjson.dumps(u.x).decode(), u.residual, u.weight, u.reason, u.at) for u in updates
            ]
            batch.append((_INSERT_UPDATE, rows2))
        if prompts:
            rows3 = [(p.origin, p.key_id, f"{p.fingerprint:016x}", p.request_id, p.at) for p in prompts]
            batch.append((_INSERT_PROMPT, rows3))
        if batch:
            await self.db.batch(batch)

    async def updates_after(self, seq: int, limit: int = 5000, upto: int | None = None) -> list[StoredUpdate]:
        """Updates with a sequence number above ``seq`` (and at most ``upto``), in order."""
        rows = await self.db.fetch(
            "SELECT seq, origin, model, x, residual, weight, reason, at FROM learner_updates "
            "WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            seq,
            upto if upto is not None else 2**62,
            limit,
        )
        return [
            StoredUpdate(
                int(r["seq"]),
                r["origin"],
                r["model"],
                orjson.loads(r["x"]),
                float(r["residual"]),
                float(r["weight"]),
                r["reason"],
                float(r["at"]),
            )
            for r in rows
        ]

    async def settle(self, request_id: str) -> StoredDecision | None:
        """Mark a decision settled by explicit feedback; None when unknown or settled already
        (on any replica): feedback on one request is learned from once in the whole fleet."""
        changed = await self.db.execute(
            "UPDATE learner_decisions SET settled = 1 WHERE request_id = $1 AND settled = 0", request_id
        )
        if not changed:
            return None
        r = await self.db.fetchrow(
            "SELECT request_id, model, x, predicted, key_id, at FROM learner_decisions WHERE request_id = $1",
            request_id,
        )
        if r is None:
            return None
        return StoredDecision(
            r["request_id"], r["model"], orjson.loads(r["x"]), float(r["predicted"]), r["key_id"], float(r["at"])
        )

    async def known(self, request_id: str) -> bool:
        """Whether the decision is stored (settled or not)."""
        return await self.db.fetchval("SELECT 1 FROM learner_decisions WHERE request_id = $1", request_id) is not None

    async def forget_before(self, at: float) -> int:
        """Drop decisions older than ``at`` (feedback for them is no longer learned from)."""
        return await self.db.execute("DELETE FROM learner_decisions WHERE at < $1", at)

    # -- the compacted posterior (migration 018) ------------------------------------------------

    async def max_seq(self) -> int:
        return int(await self.db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM learner_updates") or 0)

    async def snapshot(self) -> tuple[int, dict, float] | None:
        """(upto, posterior state, when it was made) of the newest snapshot, if any."""
        r = await self.db.fetchrow("SELECT upto, state, at FROM learner_snapshots WHERE id = 1")
        return None if r is None else (int(r["upto"]), orjson.loads(r["state"]), float(r["at"]))

    async def save_snapshot(self, upto: int, state: dict, at: float) -> None:
        """Replace the snapshot unless a newer one is there (two replicas may compact at once)."""
        await self.db.execute(
            "INSERT INTO learner_snapshots (id, upto, state, at) VALUES (1, $1, $2, $3) "
            "ON CONFLICT (id) DO UPDATE SET upto = excluded.upto, state = excluded.state, at = excluded.at "
            "WHERE learner_snapshots.upto < excluded.upto",
            upto,
            orjson.dumps(state).decode(),
            at,
        )

    async def forget_updates(self, upto: int, before: float) -> int:
        """Drop updates a snapshot holds (``seq <= upto``) once older than ``before``."""
        return await self.db.execute("DELETE FROM learner_updates WHERE seq <= $1 AND at < $2", upto, before)

    # -- prompt fingerprints, for retries across replicas (migration 018) -------------------------

    async def prompts_after(self, seq: int, since: float, limit: int = 5000) -> list[StoredPrompt]:
        rows = await self.db.fetch(
            "SELECT seq, origin, key_id, fingerprint, request_id, at FROM learner_prompts "
            "WHERE seq > $1 AND at >= $2 ORDER BY seq LIMIT $3",
            seq,
            since,
            limit,
        )
        return [
            StoredPrompt(int(r["seq"]), r["origin"], r["key_id"], int(r["fingerprint"], 16), r["request_id"], r["at"])
            for r in rows
        ]

    async def unsettled(self, request_id: str) -> StoredDecision | None:
        """A stored decision not settled by explicit feedback (a retry signal may still apply)."""
        r = await self.db.fetchrow(
            "SELECT request_id, model, x, predicted, key_id, at FROM learner_decisions "
            "WHERE request_id = $1 AND settled = 0",
            request_id,
        )
        if r is None:
            return None
        return StoredDecision(
            r["request_id"], r["model"], orjson.loads(r["x"]), float(r["predicted"]), r["key_id"], float(r["at"])
        )

    async def forget_prompts_before(self, at: float) -> int:
        return await self.db.execute("DELETE FROM learner_prompts WHERE at < $1", at)

    async def signal_summary(self, since: float, until: float | None = None) -> list[dict]:
        """Per model and signal (``reason``: feedback, retried, upstream_failure, ...) since
        ``since``: how many, their total weight, and the mean residual (how far below or above
        the prediction each said the answer was): what moved which model, and how hard."""
        rows = await self.db.fetch(
            "SELECT model, reason, COUNT(*) AS n, SUM(weight) AS w, SUM(weight * residual) AS wr "
            "FROM learner_updates WHERE at >= $1 AND at < $2 GROUP BY model, reason ORDER BY model, reason",
            since,
            until if until is not None else float("inf"),
        )
        return [
            {
                "model": r["model"],
                "signal": r["reason"],
                "count": int(r["n"]),
                "weight": float(r["w"]),
                "mean_residual": float(r["wr"]) / float(r["w"]) if r["w"] else 0.0,
            }
            for r in rows
        ]
