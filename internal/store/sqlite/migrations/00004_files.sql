-- Files of the Files API (POST /v1/files). A file's content is kept in
-- chunks of store.FileChunkBytes, each sealed with package secret (purpose
-- "file-content", associated data = id NUL owner NUL chunk number, and a
-- mark on the last chunk); the file name is sealed too (purpose "file-name",
-- associated data = id NUL owner). owner is opaque: the id of the client API
-- key that uploaded the file ('' when authentication is off). An upload
-- writes its chunks one statement at a time and sets ready = 1 when it
-- completes; rows with ready = 0 are never read. Times are unix microseconds;
-- expires_at 0 = never.

-- +goose Up
CREATE TABLE files (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT, -- upload order
    id          TEXT    NOT NULL UNIQUE,
    owner       TEXT    NOT NULL DEFAULT '',
    filename    BLOB    NOT NULL,
    purpose     TEXT    NOT NULL,
    mime_type   TEXT    NOT NULL,
    bytes       INTEGER NOT NULL DEFAULT 0,
    chunks      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    ready       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX files_by_owner ON files (owner, created_at, seq);
CREATE INDEX files_by_expiry ON files (expires_at) WHERE expires_at > 0;

CREATE TABLE file_chunks (
    file_seq  INTEGER NOT NULL REFERENCES files (seq) ON DELETE CASCADE,
    n         INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (file_seq, n)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE file_chunks;
DROP TABLE files;
