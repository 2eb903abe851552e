-- migrate:up
-- Rule 18b: after the due date a contact asks to claim late; an administrator allows it until a day (for that
-- contact and commitment) or refuses it with a reason. One open request per contact, commitment and period.
CREATE TABLE late_claim_requests (
    request_id      uuid PRIMARY KEY,
    position        bigserial NOT NULL,  -- the order they were asked in: a clock can give two the same time
    period_id       uuid NOT NULL,
    project_id      text NOT NULL,
    commitment_id   text NOT NULL,
    contact_user_id text NOT NULL,
    contact         jsonb NOT NULL,
    asked           jsonb NOT NULL,   -- whom the contact asks: who invited them, or the period's opener
    message         text,
    requested_at    timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'allowed', 'refused')),
    allowed_until   date,
    reason          text,
    answered_by     jsonb,
    answered_at     timestamptz
);
CREATE UNIQUE INDEX late_claim_requests_open
    ON late_claim_requests (period_id, commitment_id, contact_user_id) WHERE status = 'pending';
CREATE INDEX late_claim_requests_of ON late_claim_requests (period_id, commitment_id, contact_user_id, position);

-- migrate:down
DROP TABLE late_claim_requests;
