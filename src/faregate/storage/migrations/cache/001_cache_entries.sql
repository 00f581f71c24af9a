-- The response cache's long-lived layer: one row per entry, in the request-log database.
CREATE TABLE IF NOT EXISTS cache_entries (
    key         TEXT PRIMARY KEY,
    scope_hash  TEXT NOT NULL,
    model       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    value       TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_entries_expires ON cache_entries (expires_at);
CREATE INDEX IF NOT EXISTS cache_entries_created ON cache_entries (created_at);
CREATE INDEX IF NOT EXISTS cache_entries_request ON cache_entries (request_id);
