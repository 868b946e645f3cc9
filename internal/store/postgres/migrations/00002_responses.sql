-- Stored responses of the OpenAI Responses API (GET /v1/responses/{id},
-- previous_response_id). response and input_items are JSON sealed with
-- package secret (purposes "response" and "response-input", associated data
-- = id NUL owner); owner is the id of the client API key that created the
-- response ('' when authentication is off).

-- +goose Up
CREATE TABLE responses (
    id           TEXT        PRIMARY KEY,
    owner        TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    response     BYTEA       NOT NULL,
    input_items  BYTEA       NOT NULL
);
CREATE INDEX responses_by_created ON responses (created_at);

-- +goose Down
DROP TABLE responses;
