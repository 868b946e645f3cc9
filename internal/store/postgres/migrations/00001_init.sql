-- Spark's initial schema, PostgreSQL edition of sqlite/migrations/00001_init.sql
-- (same tables, same meaning). Times are timestamptz (microsecond precision,
-- UTC); NULL stands for the zero time. Secrets are sealed with package
-- secret (AES-256-GCM, associated data = account id) before they reach the
-- database.

-- +goose Up
CREATE TABLE accounts (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- creation order
    id                  TEXT        NOT NULL UNIQUE,
    provider            TEXT        NOT NULL,
    label               TEXT        NOT NULL,
    cookie_sealed       BYTEA       NOT NULL,                  -- never the plaintext cookie
    cookie_fingerprint  TEXT        NOT NULL,                  -- HMAC of the cookie's identity
    proxy_sealed        BYTEA,                                 -- NULL = no per-account proxy
    state               TEXT        NOT NULL DEFAULT 'active'
                        CHECK (state IN ('active', 'resting', 'disabled')),
    rest_until          TIMESTAMPTZ,
    disabled_reason     TEXT        NOT NULL DEFAULT '',
    last_error_code     TEXT        NOT NULL DEFAULT '',
    last_error_message  TEXT        NOT NULL DEFAULT '',
    last_error_at       TIMESTAMPTZ,
    failures            INTEGER     NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, cookie_fingerprint),
    UNIQUE (provider, label)
);

CREATE TABLE account_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  TEXT        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT        NOT NULL,
    code        TEXT        NOT NULL DEFAULT '',
    from_state  TEXT        NOT NULL DEFAULT '',
    to_state    TEXT        NOT NULL DEFAULT '',
    until       TIMESTAMPTZ,
    message     TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX account_events_by_account ON account_events (account_id, id);

CREATE TABLE api_keys (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT        NOT NULL UNIQUE,
    name          TEXT        NOT NULL DEFAULT '',
    prefix        TEXT        NOT NULL,
    hash          BYTEA       NOT NULL UNIQUE,                 -- SHA-256 of the key
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    rate_limit    INTEGER     NOT NULL DEFAULT 0
);

CREATE TABLE bindings (
    key         TEXT        PRIMARY KEY,
    account_id  TEXT        REFERENCES accounts (id) ON DELETE CASCADE,
    value       TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX bindings_by_account ON bindings (account_id);

-- +goose Down
DROP TABLE bindings;
DROP TABLE api_keys;
DROP TABLE account_events;
DROP TABLE accounts;
