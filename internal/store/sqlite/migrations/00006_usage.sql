-- Usage accounting: one row per client request (never a prompt or an
-- answer) and daily roll-ups accumulated as the rows are written, so that a
-- summary over the whole retention (USAGE_RETENTION_DAYS) reads the roll-ups.
-- Times are unix microseconds (UTC); day is the UTC date YYYY-MM-DD.
-- Written to carry over to PostgreSQL: id becomes BIGINT GENERATED ALWAYS AS
-- IDENTITY, the INTEGER columns BIGINT, stream a BOOLEAN; the roll-up upsert
-- (INSERT ... ON CONFLICT ... DO UPDATE) is the same.
-- latency_hist and ttft_hist are store.Histogram's text form (bucket counts,
-- comma-separated).

-- +goose Up
CREATE TABLE usage_records (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                INTEGER NOT NULL,
    request_id        TEXT    NOT NULL DEFAULT '',
    key_id            TEXT    NOT NULL DEFAULT '',
    account_id        TEXT    NOT NULL DEFAULT '',
    route             TEXT    NOT NULL DEFAULT '',
    model             TEXT    NOT NULL DEFAULT '',
    served_model      TEXT    NOT NULL DEFAULT '',
    status            INTEGER NOT NULL,
    error_class       TEXT    NOT NULL DEFAULT '',
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_ms        INTEGER NOT NULL DEFAULT 0,
    ttft_ms           INTEGER NOT NULL DEFAULT 0,
    stream            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX usage_records_by_at ON usage_records (at);
CREATE INDEX usage_records_by_key ON usage_records (key_id, id);

CREATE TABLE usage_daily (
    day               TEXT    NOT NULL,
    key_id            TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    account_id        TEXT    NOT NULL,
    status            INTEGER NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0,
    errors            INTEGER NOT NULL DEFAULT 0,
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens  INTEGER NOT NULL DEFAULT 0,
    latency_hist      TEXT    NOT NULL DEFAULT '',
    ttft_hist         TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (day, key_id, model, account_id, status)
);

-- +goose Down
DROP TABLE usage_daily;
DROP TABLE usage_records;
