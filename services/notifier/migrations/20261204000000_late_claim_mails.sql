-- migrate:up
-- One row per step of a request to claim late (rule 18b) to email (LateClaimRequested to the administrator asked;
-- ClaimWindowExtended and LateClaimRequestRefused to the contact, on `billing.claims`), written in the consumer's
-- transaction before the send, which the late claim mail worker does as the other mail workers do (leases,
-- retries, the Message-ID kept). `mail_id` is the request and the kind: a redelivered event adds no second row.
-- `event` is the event's data as it came, which the email is built from.
CREATE TABLE late_claim_mails (
    mail_id          text PRIMARY KEY,
    request_id       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('late_claim_requested', 'late_claim_allowed', 'late_claim_refused')),
    event            jsonb NOT NULL,
    message_id       text NOT NULL,
    trace_context    jsonb,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_reply       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    lease            uuid,
    lease_expires_at timestamptz,
    leased_by        text
);
CREATE INDEX late_claim_mails_pending ON late_claim_mails (next_attempt_at) WHERE status = 'pending';

CREATE TRIGGER late_claim_mails_inserted AFTER INSERT ON late_claim_mails
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('late_claim_mails');

-- migrate:down
DROP TABLE late_claim_mails;
