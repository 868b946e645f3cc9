-- People who sign in to the dashboard, their server-side sessions, the
-- one-time setup link and the audit trail.

-- +goose Up
CREATE TABLE users (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- creation order
    id             TEXT        NOT NULL UNIQUE,
    email          TEXT        NOT NULL,                   -- as given
    email_key      TEXT        NOT NULL UNIQUE,            -- lower-cased: unique case-insensitively
    name           TEXT        NOT NULL DEFAULT '',
    role           TEXT        NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    password_hash  TEXT        NOT NULL DEFAULT '',        -- argon2id PHC string; '' = no password sign-in
    builtin        BOOLEAN     NOT NULL DEFAULT FALSE,     -- the built-in admin (owns the environment's accounts and keys)
    disabled       BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at     TIMESTAMPTZ NOT NULL,
    last_login_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_one_builtin ON users (builtin) WHERE builtin;

CREATE TABLE sessions (
    id          TEXT        PRIMARY KEY,                   -- public handle, not the cookie
    hash        BYTEA       NOT NULL UNIQUE,               -- SHA-256 of the cookie value
    user_id     TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ                                -- NULL = not revoked
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE setup_tokens (
    hash        BYTEA       PRIMARY KEY,                   -- SHA-256 of the token
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    actor_id     TEXT        NOT NULL DEFAULT '',
    actor_email  TEXT        NOT NULL DEFAULT '',
    action       TEXT        NOT NULL,
    target_type  TEXT        NOT NULL DEFAULT '',
    target_id    TEXT        NOT NULL DEFAULT '',
    ip           TEXT        NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE setup_tokens;
DROP TABLE sessions;
DROP TABLE users;
