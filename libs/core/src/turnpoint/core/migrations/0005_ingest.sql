-- The ingest write API's idempotency keys: a retried POST with the same key and the same body gets the
-- first answer again instead of publishing twice; the same key with another body is refused (422).
-- `response` is NULL while the first request is still publishing (a concurrent retry gets 409).
-- Rows older than TURNPOINT_INGEST__IDEMPOTENCY_TTL_HOURS are deleted by the ingest service.

CREATE TABLE ingest_idempotency (
    token_id     bigint      NOT NULL,
    key          text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash text        NOT NULL,
    status       int,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token_id, key)
);

CREATE INDEX ingest_idempotency_created_at ON ingest_idempotency (created_at);
