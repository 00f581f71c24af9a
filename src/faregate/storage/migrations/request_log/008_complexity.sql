-- Each request's complexity class ("simple", "medium", "complex"; routing/complexity.py), for
-- GET /v1/analytics/summary?group_by=complexity.
ALTER TABLE request_log ADD COLUMN complexity TEXT;
CREATE INDEX IF NOT EXISTS request_log_complexity_ts ON request_log (complexity, ts);
