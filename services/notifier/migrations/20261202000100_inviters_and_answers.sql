-- migrate:up
-- Who sent each email about an invite, as Invited By and Reply-To show it (a Person, as the period's
-- `opened_by`): the opener for the first invite, whoever asked for a resend, the invite's last inviter for a
-- reminder. Rows written before this column read the period's opener instead.
ALTER TABLE deliveries ADD COLUMN invited_by jsonb;

-- Whether the contact has answered the invite at all (Yes or No), so that a resend can go only to those who
-- have not. Before this column only a No was kept: invites declined so far count as answered.
ALTER TABLE invites ADD COLUMN answered boolean NOT NULL DEFAULT false;
UPDATE invites SET answered = true WHERE declined;

-- migrate:down
ALTER TABLE invites DROP COLUMN answered;
ALTER TABLE deliveries DROP COLUMN invited_by;
