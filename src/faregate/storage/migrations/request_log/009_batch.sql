-- The batch tier (OpenAI Batch API in front): uploaded files, batch jobs, and which batch a
-- request-log row belongs to. ``owner`` is the gateway key id ('' on an open gateway).
-- ``lease_until`` is the claim of the replica running a job (claimed atomically, expires).
CREATE TABLE IF NOT EXISTS batch_file (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    purpose    TEXT NOT NULL,
    filename   TEXT NOT NULL,
    content    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_job (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    status      TEXT NOT NULL,
    job         TEXT NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT ''
);
-- One row per answered line (its output or error line as JSON): a resumed job skips these, so a
-- line answered before a restart is never sent upstream again.
CREATE TABLE IF NOT EXISTS batch_line (
    batch_id  TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    result    TEXT NOT NULL,
    PRIMARY KEY (batch_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_job_owner_created ON batch_job (owner, created_at);
ALTER TABLE request_log ADD COLUMN batch_id TEXT;
