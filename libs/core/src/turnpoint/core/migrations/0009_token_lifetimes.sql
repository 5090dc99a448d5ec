-- Token lifetimes, rotation and last use (`turnpoint ingest token create --expires-in/--expires-at`,
-- `token rotate`, `token list`). A NULL expires_at never expires (tokens created before this migration).
-- `token rotate` moves the current hash to previous_token_hash, valid until previous_valid_until (the grace
-- period), and stores the new secret's hash; the row (and its id, which idempotency keys refer to) stays.
-- last_used_at is written at most once a minute per token by the services that verify tokens.

ALTER TABLE api_token
    ADD COLUMN expires_at           timestamptz,
    ADD COLUMN last_used_at         timestamptz,
    ADD COLUMN rotated_at           timestamptz,
    ADD COLUMN previous_token_hash  text UNIQUE CHECK (previous_token_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN previous_valid_until timestamptz;
