-- Alerts and their delivery (SPEC §6, issue #19), version 8 of the shared schema.
--
-- One row per (id, status): `id` is derived from the rule and the event's natural key, so a replayed or
-- redelivered alert lands on its row and is never sent twice once delivered; a resolution (`resolved`) of
-- a withdrawn leg or a fresh-again job shares the id of what it resolves. `delivery` is
--   pending    not yet accepted by the receiver (retried with backoff, never dropped),
--   delivered  the receiver answered 2xx (delivered_at),
--   suppressed within the rule's cooldown of the previous alert of the same rule and subject.
-- Every attempt updates attempts, first_attempt_at, last_attempt_at and last_error.
CREATE TABLE alert (
    id               text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('firing', 'resolved')),
    rule             text        NOT NULL,
    kind             text        NOT NULL,
    subject          text        NOT NULL,
    at               timestamptz NOT NULL,
    value            double precision,
    message          text        NOT NULL,
    details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    delivery         text        NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending', 'delivered', 'suppressed')),
    attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_error       text,
    last_response    integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, status)
);

-- The notifier's work queue: pending alerts by when they are due.
CREATE INDEX alert_pending ON alert (next_attempt_at) WHERE delivery = 'pending';
-- Cooldowns: the latest alert sent (or being sent) of a rule and subject.
CREATE INDEX alert_rule_subject_at ON alert (rule, subject, at DESC) WHERE status = 'firing' AND delivery <> 'suppressed';
-- GET /v1/alerts: newest first, optionally by rule or subject.
CREATE INDEX alert_at ON alert (at DESC, id DESC, status DESC);
CREATE INDEX alert_subject_at ON alert (subject, at DESC, id DESC, status DESC);
