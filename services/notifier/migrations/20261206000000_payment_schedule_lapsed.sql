-- migrate:up
-- A clock whose due day had passed before its reminder could be written (the notifier stopped for days, or the
-- submission heard late) is 'lapsed': no reminder of a day gone by.
ALTER TABLE payment_schedule_clocks DROP CONSTRAINT payment_schedule_clocks_status_check;
ALTER TABLE payment_schedule_clocks ADD CONSTRAINT payment_schedule_clocks_status_check
    CHECK (status IN ('running', 'reminded', 'stopped', 'lapsed'));

-- migrate:down
UPDATE payment_schedule_clocks SET status = 'reminded' WHERE status = 'lapsed';
ALTER TABLE payment_schedule_clocks DROP CONSTRAINT payment_schedule_clocks_status_check;
ALTER TABLE payment_schedule_clocks ADD CONSTRAINT payment_schedule_clocks_status_check
    CHECK (status IN ('running', 'reminded', 'stopped'));
