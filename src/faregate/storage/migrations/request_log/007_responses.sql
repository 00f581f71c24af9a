-- Stored Responses API responses (``store: true``, the default): the response object as it was
-- answered, and the conversation so far (input items then output items) that a request naming
-- it as ``previous_response_id`` continues. ``owner`` is the gateway key id that made it ('' on
-- an open gateway): another key can neither read, continue nor delete it.
CREATE TABLE IF NOT EXISTS stored_response (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    response   TEXT NOT NULL,
    history    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS stored_response_created ON stored_response (created_at);
