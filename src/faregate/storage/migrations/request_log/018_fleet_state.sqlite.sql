-- Calibration published at run time (`faregate calibrate --from-log --publish`): every replica
-- polls the newest row and routes with it (learning/shared_calibration.py); a new row replaces it.
CREATE TABLE IF NOT EXISTS calibrations (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    origin  TEXT NOT NULL,
    body    TEXT NOT NULL,
    at      DOUBLE PRECISION NOT NULL
);
-- The learner's posterior compacted up to learner_updates.seq = upto (learning/snapshot.py): a
-- (re)starting replica loads it and replays only the newer updates. One row, replaced.
CREATE TABLE IF NOT EXISTS learner_snapshots (
    id      INTEGER PRIMARY KEY,
    upto    INTEGER NOT NULL,
    state   TEXT NOT NULL,
    at      DOUBLE PRECISION NOT NULL
);
-- Fingerprints (64-bit SimHash, hex) of recent prompts per key, so a retry that lands on another
-- replica is detected there (learning/shared_state.py). Kept for learning.retry_window_s or so.
CREATE TABLE IF NOT EXISTS learner_prompts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    origin      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    at          DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS learner_prompts_at ON learner_prompts (at);
