-- The semantic index is rebuilt from this layer after a restart: which entries also answer
-- similar prompts (their group) and until when, so the rebuild reads only those rows.
ALTER TABLE cache_entries ADD COLUMN semantic_group TEXT NOT NULL DEFAULT '';
ALTER TABLE cache_entries ADD COLUMN semantic_until DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS cache_entries_semantic ON cache_entries (semantic_until);
