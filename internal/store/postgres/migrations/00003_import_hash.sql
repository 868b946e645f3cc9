-- +goose Up
-- Keyed hash of the cookie string as last imported from the environment, so
-- a restart with the same cookie variable keeps a rotated cookie.
ALTER TABLE accounts ADD COLUMN import_hash TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE accounts DROP COLUMN import_hash;
