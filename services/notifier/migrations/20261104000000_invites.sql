-- migrate:up
-- The periods this service has heard of are its period view (shared/migrations/period_view).

-- One invite per (period, commitment, contact), rule 6.
CREATE TABLE invites (
    invite_id         uuid PRIMARY KEY,
    period_id         uuid NOT NULL REFERENCES periods,
    commitment_id     text NOT NULL,
    commitment_number text NOT NULL,
    commitment_title  text NOT NULL,
    vendor_name       text NOT NULL,
    contact_user_id   text NOT NULL,
    contact_name      text NOT NULL,
    contact_email     text NOT NULL,
    declined          boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (period_id, commitment_id, contact_user_id)
);

-- Commitments with a claim this period: they get no reminder.
CREATE TABLE claimed_commitments (
    period_id     uuid NOT NULL,
    commitment_id text NOT NULL,
    PRIMARY KEY (period_id, commitment_id)
);

-- Commitments announced as not invited, so each is announced once per period.
CREATE TABLE skipped_commitments (
    period_id     uuid NOT NULL,
    commitment_id text NOT NULL,
    reason        text NOT NULL,
    PRIMARY KEY (period_id, commitment_id)
);

-- One row per email to send, written before the send; `request` tells resends apart.
CREATE TABLE deliveries (
    delivery_id     bigserial PRIMARY KEY,
    invite_id       uuid NOT NULL REFERENCES invites,
    kind            text NOT NULL CHECK (kind IN ('invite', 'resend', 'reminder')),
    request         text NOT NULL DEFAULT '',
    message_id      text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_reply      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (invite_id, kind, request)
);
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TRIGGER deliveries_inserted AFTER INSERT ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('deliveries');

-- migrate:down
DROP TABLE deliveries;
DROP TABLE skipped_commitments;
DROP TABLE claimed_commitments;
DROP TABLE invites;
