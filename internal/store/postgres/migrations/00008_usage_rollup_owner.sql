-- The daily usage roll-ups are kept per owner too: records without a key
-- (the dashboard's playground, where the signed-in user is the owner) of
-- different users must not share a row, so the owner becomes part of the
-- row's identity (as SQLite's 00008 does by rebuilding the table).

-- +goose Up
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
ALTER TABLE usage_daily ADD PRIMARY KEY (day, owner_id, key_id, model, account_id, status);

-- +goose Down
CREATE TABLE usage_daily_merged AS
SELECT day, key_id, model, account_id, status, SUM(requests)::bigint AS requests, SUM(errors)::bigint AS errors,
    SUM(input_tokens)::bigint AS input_tokens, SUM(output_tokens)::bigint AS output_tokens,
    SUM(reasoning_tokens)::bigint AS reasoning_tokens, MAX(latency_hist) AS latency_hist,
    MAX(ttft_hist) AS ttft_hist, MAX(owner_id) AS owner_id
FROM usage_daily GROUP BY day, key_id, model, account_id, status;
DELETE FROM usage_daily;
ALTER TABLE usage_daily DROP CONSTRAINT usage_daily_pkey;
INSERT INTO usage_daily (day, key_id, model, account_id, status, requests, errors, input_tokens,
    output_tokens, reasoning_tokens, latency_hist, ttft_hist, owner_id)
SELECT day, key_id, model, account_id, status, requests, errors, input_tokens, output_tokens,
    reasoning_tokens, latency_hist, ttft_hist, owner_id FROM usage_daily_merged;
DROP TABLE usage_daily_merged;
ALTER TABLE usage_daily ADD PRIMARY KEY (day, key_id, model, account_id, status);
