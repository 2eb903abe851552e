-- migrate:up
-- Who sent the invite (the opener, or whoever asked for the resend), so that a contact refused after the due
-- date is told whom to ask for a claim on their behalf. Invites heard of before this have none: the period's
-- opener is named instead.
ALTER TABLE invites
    ADD COLUMN invited_by jsonb,
    ADD COLUMN sent_at    timestamptz;

-- migrate:down
ALTER TABLE invites
    DROP COLUMN sent_at,
    DROP COLUMN invited_by;
