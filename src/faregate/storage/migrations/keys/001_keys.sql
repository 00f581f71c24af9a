-- Gateway keys and teams. Keys are stored only as sha256 hashes plus a display prefix.
CREATE TABLE IF NOT EXISTS fg_teams (
    name        TEXT PRIMARY KEY,
    models      TEXT,
    limits      TEXT NOT NULL DEFAULT '{}',
    created_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS fg_keys (
    id          TEXT PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    name        TEXT NOT NULL,
    team        TEXT,
    models      TEXT,
    limits      TEXT NOT NULL DEFAULT '{}',
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION,
    revoked_at  DOUBLE PRECISION,
    rotated_at  DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS fg_keys_team ON fg_keys (team);
