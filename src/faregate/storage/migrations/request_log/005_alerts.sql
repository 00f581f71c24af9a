-- Alerts: channels and rules added through the admin API (those from the config are not
-- stored), and every alert sent (time, rule, channel, outcome). A channel's secret and SMTP
-- password are stored for sending; the admin API never returns them.
CREATE TABLE IF NOT EXISTS alert_channel (
    id         TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_rule (
    id         TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
-- event: 'alert' | 'resolved' | 'test' | 'summary'; outcome: 'sent' | 'failed'.
CREATE TABLE IF NOT EXISTS alert_history (
    id        TEXT PRIMARY KEY,
    ts        DOUBLE PRECISION NOT NULL,
    rule      TEXT,
    channel   TEXT NOT NULL,
    event     TEXT NOT NULL,
    subject   TEXT,
    outcome   TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 1,
    error     TEXT,
    message   TEXT
);
CREATE INDEX IF NOT EXISTS alert_history_ts ON alert_history (ts);
