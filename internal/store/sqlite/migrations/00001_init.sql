-- Spark's initial schema. Times are unix microseconds (UTC); secrets are
-- sealed with package secret (AES-256-GCM, associated data = account id).

-- +goose Up
CREATE TABLE accounts (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT, -- creation order
    id                  TEXT    NOT NULL UNIQUE,
    provider            TEXT    NOT NULL,
    label               TEXT    NOT NULL,
    cookie_sealed       BLOB    NOT NULL,                  -- never the plaintext cookie
    cookie_fingerprint  TEXT    NOT NULL,                  -- HMAC of the cookie's identity
    proxy_sealed        BLOB,                              -- NULL = no per-account proxy
    state               TEXT    NOT NULL DEFAULT 'active'
                        CHECK (state IN ('active', 'resting', 'disabled')),
    rest_until          INTEGER NOT NULL DEFAULT 0,
    disabled_reason     TEXT    NOT NULL DEFAULT '',
    last_error_code     TEXT    NOT NULL DEFAULT '',
    last_error_message  TEXT    NOT NULL DEFAULT '',
    last_error_at       INTEGER NOT NULL DEFAULT 0,
    failures            INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (provider, cookie_fingerprint),
    UNIQUE (provider, label)
);

CREATE TABLE account_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    code        TEXT    NOT NULL DEFAULT '',
    from_state  TEXT    NOT NULL DEFAULT '',
    to_state    TEXT    NOT NULL DEFAULT '',
    until       INTEGER NOT NULL DEFAULT 0,
    message     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX account_events_by_account ON account_events (account_id, id);

CREATE TABLE api_keys (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL DEFAULT '',
    prefix        TEXT    NOT NULL,
    hash          BLOB    NOT NULL UNIQUE,                 -- SHA-256 of the key
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    rate_limit    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE bindings (
    key         TEXT    PRIMARY KEY,
    account_id  TEXT    REFERENCES accounts (id) ON DELETE CASCADE,
    value       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX bindings_by_account ON bindings (account_id);

-- +goose Down
DROP TABLE bindings;
DROP TABLE api_keys;
DROP TABLE account_events;
DROP TABLE accounts;
