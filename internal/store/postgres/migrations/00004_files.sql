-- Files of the Files API (POST /v1/files). A file's content is kept in
-- chunks of store.FileChunkBytes, each sealed with package secret (purpose
-- "file-content", associated data = id NUL owner NUL chunk number, and a
-- mark on the last chunk); the file name is sealed too (purpose "file-name",
-- associated data = id NUL owner). owner is opaque: the id of the client API
-- key that uploaded the file ('' when authentication is off). An upload
-- writes its chunks one statement at a time and sets ready when it
-- completes; rows not ready are never read. expires_at NULL = never.

-- +goose Up
CREATE TABLE files (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- upload order
    id          TEXT        NOT NULL UNIQUE,
    owner       TEXT        NOT NULL DEFAULT '',
    filename    BYTEA       NOT NULL,
    purpose     TEXT        NOT NULL,
    mime_type   TEXT        NOT NULL,
    bytes       BIGINT      NOT NULL DEFAULT 0,
    chunks      INTEGER     NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    ready       BOOLEAN     NOT NULL DEFAULT FALSE
);
CREATE INDEX files_by_owner ON files (owner, created_at, seq);
CREATE INDEX files_by_expiry ON files (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE file_chunks (
    file_seq  BIGINT  NOT NULL REFERENCES files (seq) ON DELETE CASCADE,
    n         INTEGER NOT NULL,
    data      BYTEA   NOT NULL,
    PRIMARY KEY (file_seq, n)
);
-- Sealed chunks do not compress: store them out of line without trying.
ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- +goose Down
DROP TABLE file_chunks;
DROP TABLE files;
