-- People who sign in to the dashboard, their server-side sessions, the
-- one-time setup link and the audit trail. Times are unix microseconds (UTC).
-- Plain SQL that PostgreSQL can follow (BIGINT/TEXT/BYTEA in place of
-- INTEGER/TEXT/BLOB, an identity column in place of AUTOINCREMENT).

-- +goose Up
CREATE TABLE users (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order
    id             TEXT    NOT NULL UNIQUE,
    email          TEXT    NOT NULL,                   -- as given
    email_key      TEXT    NOT NULL UNIQUE,            -- lower-cased: unique case-insensitively
    name           TEXT    NOT NULL DEFAULT '',
    role           TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    password_hash  TEXT    NOT NULL DEFAULT '',        -- argon2id PHC string; '' = no password sign-in
    builtin        INTEGER NOT NULL DEFAULT 0,         -- 1 = the built-in admin (owns the environment's accounts and keys)
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    last_login_at  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_one_builtin ON users (builtin) WHERE builtin = 1;

CREATE TABLE sessions (
    id          TEXT    PRIMARY KEY,                   -- public handle, not the cookie
    hash        BLOB    NOT NULL UNIQUE,               -- SHA-256 of the cookie value
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE setup_tokens (
    hash        BLOB    PRIMARY KEY,                   -- SHA-256 of the token
    expires_at  INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_id     TEXT    NOT NULL DEFAULT '',
    actor_email  TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    target_type  TEXT    NOT NULL DEFAULT '',
    target_id    TEXT    NOT NULL DEFAULT '',
    ip           TEXT    NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE setup_tokens;
DROP TABLE sessions;
DROP TABLE users;
