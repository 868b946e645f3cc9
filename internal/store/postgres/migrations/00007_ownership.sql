-- Ownership and key policies (the management plane), PostgreSQL edition of
-- sqlite/migrations/00007_ownership.sql: every account and API key belongs
-- to a dashboard user ('' is the built-in admin, who owns the environment's
-- accounts and keys); an admin may mark an account shared. A key carries its
-- policies: allowed models and client addresses (text arrays, kept as
-- given), an expiry (NULL = never), a concurrency cap and a token quota
-- with the tokens used so far. Usage records and roll-ups carry the key's
-- owner, so that each user reads only their own.

-- +goose Up
ALTER TABLE accounts ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN shared BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX accounts_by_owner ON accounts (owner_id);

ALTER TABLE api_keys ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN models TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE api_keys ADD COLUMN ip_allow TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE api_keys ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_keys ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN token_quota BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN tokens_used BIGINT NOT NULL DEFAULT 0;
CREATE INDEX api_keys_by_owner ON api_keys (owner_id);

ALTER TABLE usage_records ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
CREATE INDEX usage_records_by_owner ON usage_records (owner_id, id);
ALTER TABLE usage_daily ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';

-- +goose Down
DROP INDEX usage_records_by_owner;
ALTER TABLE usage_daily DROP COLUMN owner_id;
ALTER TABLE usage_records DROP COLUMN owner_id;
DROP INDEX api_keys_by_owner;
ALTER TABLE api_keys DROP COLUMN tokens_used;
ALTER TABLE api_keys DROP COLUMN token_quota;
ALTER TABLE api_keys DROP COLUMN max_concurrency;
ALTER TABLE api_keys DROP COLUMN expires_at;
ALTER TABLE api_keys DROP COLUMN ip_allow;
ALTER TABLE api_keys DROP COLUMN models;
ALTER TABLE api_keys DROP COLUMN owner_id;
DROP INDEX accounts_by_owner;
ALTER TABLE accounts DROP COLUMN shared;
ALTER TABLE accounts DROP COLUMN owner_id;
