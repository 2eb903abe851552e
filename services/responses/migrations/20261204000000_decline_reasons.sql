-- migrate:up
-- Why a contact said No, when they said (rule 18a): {code, text} as InviteDeclined carries it; cleared by a Yes.
ALTER TABLE answers ADD COLUMN decline_reason jsonb;

-- migrate:down
ALTER TABLE answers DROP COLUMN decline_reason;
