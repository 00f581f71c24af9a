-- The learning loop's state, shared by every replica on this database (storage/learner_store.py).
-- Each routed decision (what a later feedback call needs to learn from) ...
CREATE TABLE IF NOT EXISTS learner_decisions (
    request_id  TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    x           TEXT NOT NULL,
    predicted   DOUBLE PRECISION NOT NULL,
    key_id      TEXT,
    at          DOUBLE PRECISION NOT NULL,
    settled     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS learner_decisions_at ON learner_decisions (at);
-- ... and every update of the posterior, in order: replicas apply the others' as they appear,
-- and a restarted replica replays them all (the updates commute, so the order of arrival does not matter).
CREATE TABLE IF NOT EXISTS learner_updates (
    seq       BIGSERIAL PRIMARY KEY,
    origin    TEXT NOT NULL,
    model     TEXT NOT NULL,
    x         TEXT NOT NULL,
    residual  DOUBLE PRECISION NOT NULL,
    weight    DOUBLE PRECISION NOT NULL,
    reason    TEXT NOT NULL,
    at        DOUBLE PRECISION NOT NULL
);
-- An admin cache purge on one replica (cache/purge_sync.py): the shared layers (Redis, this
-- database) are purged by that replica; the others read this and purge their memory layer.
CREATE TABLE IF NOT EXISTS cache_purges (
    seq       BIGSERIAL PRIMARY KEY,
    origin    TEXT NOT NULL,
    selector  TEXT NOT NULL,
    at        DOUBLE PRECISION NOT NULL
);
