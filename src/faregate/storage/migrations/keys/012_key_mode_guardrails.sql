-- A database key's optimisation mode (cost | latency | quality | balanced; NULL: none) and the
-- names of the config's guardrails run on its requests (a JSON list; NULL: none).
ALTER TABLE fg_keys ADD COLUMN mode TEXT;
ALTER TABLE fg_keys ADD COLUMN guardrails TEXT;
