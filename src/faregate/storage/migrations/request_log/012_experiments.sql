-- Each request's policy experiment and arm (routing/experiments.py), for
-- GET /v1/analytics/experiments/{name} and `faregate experiments report`.
ALTER TABLE request_log ADD COLUMN experiment TEXT;
ALTER TABLE request_log ADD COLUMN experiment_arm TEXT;
CREATE INDEX IF NOT EXISTS request_log_experiment_ts ON request_log (experiment, ts);
