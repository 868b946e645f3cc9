-- Usage accounting: one row per client request (never a prompt or an
-- answer) and daily roll-ups accumulated as the rows are written, so that a
-- summary over the whole retention (USAGE_RETENTION_DAYS) reads the roll-ups.
-- day is the UTC date. latency_hist and ttft_hist are store.Histogram's
-- bucket counts (trailing zero buckets left out); an upsert adds them
-- element-wise in the statement itself, so writers on several replicas
-- never lose each other's counts.

-- +goose Up
CREATE TABLE usage_records (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                TIMESTAMPTZ NOT NULL,
    request_id        TEXT        NOT NULL DEFAULT '',
    key_id            TEXT        NOT NULL DEFAULT '',
    account_id        TEXT        NOT NULL DEFAULT '',
    route             TEXT        NOT NULL DEFAULT '',
    model             TEXT        NOT NULL DEFAULT '',
    served_model      TEXT        NOT NULL DEFAULT '',
    status            INTEGER     NOT NULL,
    error_class       TEXT        NOT NULL DEFAULT '',
    input_tokens      BIGINT      NOT NULL DEFAULT 0,
    output_tokens     BIGINT      NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT      NOT NULL DEFAULT 0,
    latency_ms        BIGINT      NOT NULL DEFAULT 0,
    ttft_ms           BIGINT      NOT NULL DEFAULT 0,
    stream            BOOLEAN     NOT NULL DEFAULT FALSE
);
CREATE INDEX usage_records_by_at ON usage_records (at);
CREATE INDEX usage_records_by_key ON usage_records (key_id, id);

CREATE TABLE usage_daily (
    day               DATE     NOT NULL,
    key_id            TEXT     NOT NULL,
    model             TEXT     NOT NULL,
    account_id        TEXT     NOT NULL,
    status            INTEGER  NOT NULL,
    requests          BIGINT   NOT NULL DEFAULT 0,
    errors            BIGINT   NOT NULL DEFAULT 0,
    input_tokens      BIGINT   NOT NULL DEFAULT 0,
    output_tokens     BIGINT   NOT NULL DEFAULT 0,
    reasoning_tokens  BIGINT   NOT NULL DEFAULT 0,
    latency_hist      BIGINT[] NOT NULL DEFAULT '{}',
    ttft_hist         BIGINT[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (day, key_id, model, account_id, status)
);

-- spark_hist_add adds two histograms bucket by bucket (the shorter one
-- padded with zeros).
-- +goose StatementBegin
CREATE FUNCTION spark_hist_add(a BIGINT[], b BIGINT[]) RETURNS BIGINT[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(COALESCE(x, 0) + COALESCE(y, 0) ORDER BY i), '{}')
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION spark_hist_add(BIGINT[], BIGINT[]);
DROP TABLE usage_daily;
DROP TABLE usage_records;
