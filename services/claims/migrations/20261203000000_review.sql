-- migrate:up
-- Review (rule 18): a submitted claim is approved or sent back with a reason, notes per line and a day to
-- resubmit by; each submission is kept as a revision with its lines and totals, so that a later claim can
-- carry forward the revision that was approved, and nobody loses what was sent before.
ALTER TABLE claims
    ADD COLUMN revision     integer NOT NULL DEFAULT 0,  -- how many times it has been submitted
    ADD COLUMN resubmit_by  date,                        -- while sent back: the last day to resubmit
    ADD COLUMN review_reason text,
    ADD COLUMN line_notes   jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN reviewed_by  jsonb,
    ADD COLUMN reviewed_at  timestamptz;

CREATE TABLE claim_revisions (
    claim_id              uuid NOT NULL REFERENCES claims ON DELETE CASCADE,
    revision              integer NOT NULL CHECK (revision >= 1),
    submitted_at          timestamptz NOT NULL,
    submitted_by          jsonb,                           -- unknown for claims submitted before revisions
    totals                jsonb,                           -- decimal strings, as ClaimTotals names them
    earned_less_retention numeric NOT NULL,
    outcome               text CHECK (outcome IN ('approved', 'revise_and_resubmit')),  -- none while under review
    reviewed_by           jsonb,
    reviewed_at           timestamptz,
    reason                text,
    line_notes            jsonb,
    resubmit_by           date,
    PRIMARY KEY (claim_id, revision)
);

CREATE TABLE claim_revision_lines (
    claim_id         uuid NOT NULL,
    revision         integer NOT NULL,
    line_id          text NOT NULL,
    this_period      numeric NOT NULL,
    materials_stored numeric NOT NULL,
    PRIMARY KEY (claim_id, revision, line_id),
    FOREIGN KEY (claim_id, revision) REFERENCES claim_revisions ON DELETE CASCADE
);

-- The claims submitted before this are their revision 1.
INSERT INTO claim_revisions (claim_id, revision, submitted_at, earned_less_retention, outcome)
SELECT claim_id, 1, submitted_at, coalesce(earned_less_retention, 0),
       CASE WHEN status = 'approved' THEN 'approved' END
FROM claims WHERE status IN ('under_review', 'approved') AND submitted_at IS NOT NULL;
INSERT INTO claim_revision_lines (claim_id, revision, line_id, this_period, materials_stored)
SELECT l.claim_id, 1, l.line_id, l.this_period, l.materials_stored
FROM claim_lines l JOIN claim_revisions r ON r.claim_id = l.claim_id AND r.revision = 1;
UPDATE claims SET revision = 1 WHERE claim_id IN (SELECT claim_id FROM claim_revisions);

-- migrate:down
DROP TABLE claim_revision_lines;
DROP TABLE claim_revisions;
ALTER TABLE claims
    DROP COLUMN reviewed_at,
    DROP COLUMN reviewed_by,
    DROP COLUMN line_notes,
    DROP COLUMN review_reason,
    DROP COLUMN resubmit_by,
    DROP COLUMN revision;
