-- A key whose requests must not reach an upstream twice (never hedged): idempotent = false.
ALTER TABLE fg_keys ADD COLUMN idempotent BOOLEAN NOT NULL DEFAULT TRUE;
