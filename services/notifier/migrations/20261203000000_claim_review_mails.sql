-- migrate:up
-- One row per review of a progress claim to email its contact (ProgressClaimApproved and
-- ProgressClaimRevisionRequested on `billing.claims`), written in the consumer's transaction before the send,
-- which the claim review mail worker does as the other mail workers do (leases, retries, the Message-ID kept).
-- `mail_id` is the claim, the kind and the revision: a redelivered event, or the same review under a new event
-- id, adds no second row. `review` is the event's data as it came, which the email is built from.
CREATE TABLE claim_review_mails (
    mail_id          text PRIMARY KEY,
    claim_id         text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('claim_approved', 'claim_revision_requested')),
    revision         integer NOT NULL,
    review           jsonb NOT NULL,
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
CREATE INDEX claim_review_mails_pending ON claim_review_mails (next_attempt_at) WHERE status = 'pending';

CREATE TRIGGER claim_review_mails_inserted AFTER INSERT ON claim_review_mails
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('claim_review_mails');

-- migrate:down
DROP TABLE claim_review_mails;
