-- Dashboard logouts: the nonce of every ended session until its cookie would have expired, so
-- a logout on one replica ends the session on all of them (dashboard/session.py).
CREATE TABLE IF NOT EXISTS dashboard_logout (
    nonce      TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_logout_expires ON dashboard_logout (expires_at);
