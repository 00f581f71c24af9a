-- Models and provider credentials added through the admin API, shared by every replica on
-- this database. `body` is the entry without its secrets (JSON); `secret` the secrets
-- (api keys, header values) encrypted with FAREGATE_SECRET_KEY (Fernet), or NULL.
CREATE TABLE IF NOT EXISTS runtime_models (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    secret      TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS runtime_providers (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    secret      TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);
-- One row; every change bumps `version` in the same transaction, and replicas poll it.
CREATE TABLE IF NOT EXISTS runtime_config_version (
    id       INTEGER PRIMARY KEY,
    version  BIGINT NOT NULL
);
INSERT INTO runtime_config_version (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;
-- Who changed what, when: never a secret (the body as stored, secrets replaced by their names).
CREATE TABLE IF NOT EXISTS config_audit (
    id      TEXT PRIMARY KEY,
    ts      DOUBLE PRECISION NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    detail  TEXT
);
CREATE INDEX IF NOT EXISTS config_audit_ts ON config_audit (ts);
-- The policy version that answered each request (x-faregate-policy).
ALTER TABLE request_log ADD COLUMN policy TEXT;
CREATE INDEX IF NOT EXISTS request_log_policy_ts ON request_log (policy, ts);
