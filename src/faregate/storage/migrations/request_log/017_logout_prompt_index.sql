-- Dashboard logouts: the nonce of every ended session until its cookie would have expired, so
-- a logout on one replica ends the session on all of them (dashboard/session.py).
CREATE TABLE IF NOT EXISTS dashboard_logout (
    nonce      TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_logout_expires ON dashboard_logout (expires_at);
-- The rows with a logged prompt, by time: the recommendations' prompt counts read only those
-- (storage/recommendations.py), so a log without bodies answers from the rollups alone.
CREATE INDEX IF NOT EXISTS request_log_prompt_ts ON request_log (ts) WHERE prompt IS NOT NULL;
