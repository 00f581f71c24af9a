-- The response cache in the log: what kind of hit served a request (exact, semantic,
-- coalesced; NULL: none) and the upstream cost it saved; the rollup sums the savings.
ALTER TABLE request_log ADD COLUMN cache_kind TEXT;
ALTER TABLE request_log ADD COLUMN cache_saved_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE request_rollup ADD COLUMN cache_saved_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE request_rollup_day ADD COLUMN cache_saved_usd DOUBLE PRECISION NOT NULL DEFAULT 0;
