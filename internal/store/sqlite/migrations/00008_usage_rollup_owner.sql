-- The daily usage roll-ups are kept per owner too: records without a key
-- (the dashboard's playground, where the signed-in user is the owner) of
-- different users must not share a row. The owner becomes part of the
-- row's identity, which in SQLite means rebuilding the table. Written to
-- carry over to PostgreSQL (there an ALTER TABLE ... DROP CONSTRAINT /
-- ADD PRIMARY KEY does it in place).

-- +goose Up
CREATE TABLE usage_daily_new (
    day               TEXT    NOT NULL,
    owner_id          TEXT    NOT NULL DEFAULT '',
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
    PRIMARY KEY (day, owner_id, key_id, model, account_id, status)
);
INSERT INTO usage_daily_new (day, owner_id, key_id, model, account_id, status, requests, errors,
    input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist)
SELECT day, owner_id, key_id, model, account_id, status, requests, errors,
    input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist FROM usage_daily;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_new RENAME TO usage_daily;

-- +goose Down
CREATE TABLE usage_daily_old (
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
    owner_id          TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (day, key_id, model, account_id, status)
);
INSERT INTO usage_daily_old (day, key_id, model, account_id, status, requests, errors,
    input_tokens, output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id)
SELECT day, key_id, model, account_id, status, SUM(requests), SUM(errors),
    SUM(input_tokens), SUM(output_tokens), SUM(reasoning_tokens), MAX(latency_hist), MAX(ttft_hist), MAX(owner_id)
FROM usage_daily GROUP BY day, key_id, model, account_id, status;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_old RENAME TO usage_daily;
