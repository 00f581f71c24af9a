-- Each request's policy experiment and arm (routing/experiments.py), for
-- GET /v1/analytics/experiments/{name} and `faregate experiments report`.
ALTER TABLE request_log ADD COLUMN experiment TEXT;
ALTER TABLE request_log ADD COLUMN experiment_arm TEXT;
CREATE INDEX IF NOT EXISTS request_log_experiment_ts ON request_log (experiment, ts);
-- Experiments added or changed through the admin API (stop, promote), stored like runtime models:
-- a row here replaces the config file's experiment of the same name.
CREATE TABLE IF NOT EXISTS runtime_experiments (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    secret      TEXT,
    created_at  DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL
);
