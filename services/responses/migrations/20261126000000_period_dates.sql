-- migrate:up
-- The periods view is shared with the claims service (shared/period_view.py), which keeps these too.
ALTER TABLE periods ADD COLUMN project_id text, ADD COLUMN start_date date, ADD COLUMN end_date date;

-- migrate:down
ALTER TABLE periods DROP COLUMN project_id, DROP COLUMN start_date, DROP COLUMN end_date;
