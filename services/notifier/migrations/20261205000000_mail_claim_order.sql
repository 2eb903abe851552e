-- migrate:up
-- A worker leases the oldest due rows in the order (next_attempt_at, key). The rows one period's opening writes
-- share one next_attempt_at (that transaction's now()), so an index on next_attempt_at alone left every lease
-- sorting all the pending rows again: time growing with the square of a fan-out. With the key in the index, a
-- lease reads only the rows it takes.
DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at, delivery_id) WHERE status = 'pending';
DROP INDEX password_mails_pending;
CREATE INDEX password_mails_pending ON password_mails (next_attempt_at, request_id) WHERE status = 'pending';
DROP INDEX claim_review_mails_pending;
CREATE INDEX claim_review_mails_pending ON claim_review_mails (next_attempt_at, mail_id) WHERE status = 'pending';
DROP INDEX payment_schedule_reminder_mails_pending;
CREATE INDEX payment_schedule_reminder_mails_pending ON payment_schedule_reminder_mails (next_attempt_at, mail_id)
    WHERE status = 'pending';
DROP INDEX late_claim_mails_pending;
CREATE INDEX late_claim_mails_pending ON late_claim_mails (next_attempt_at, mail_id) WHERE status = 'pending';

-- migrate:down
DROP INDEX deliveries_pending;
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
DROP INDEX password_mails_pending;
CREATE INDEX password_mails_pending ON password_mails (next_attempt_at) WHERE status = 'pending';
DROP INDEX claim_review_mails_pending;
CREATE INDEX claim_review_mails_pending ON claim_review_mails (next_attempt_at) WHERE status = 'pending';
DROP INDEX payment_schedule_reminder_mails_pending;
CREATE INDEX payment_schedule_reminder_mails_pending ON payment_schedule_reminder_mails (next_attempt_at)
    WHERE status = 'pending';
DROP INDEX late_claim_mails_pending;
CREATE INDEX late_claim_mails_pending ON late_claim_mails (next_attempt_at) WHERE status = 'pending';
