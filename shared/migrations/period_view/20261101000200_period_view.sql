-- migrate:up
-- A service's own view of billing periods, kept from billing.periods by shared/period_view.py, declared here
-- once for every service that keeps one (notifier, responses, claims). Events may come in any order, so
-- everything but the id may be missing for a while: the opening fills in the dates and names whenever it
-- arrives; `due_as_of` is the time of the event that set the due date, so an older one arriving late
-- changes nothing; a closure is final.
-- Written to also bring the tables of databases made before it (each service declared its own) to this
-- shape: their columns are kept, and the missing ones added.
CREATE TABLE IF NOT EXISTS periods (period_id uuid PRIMARY KEY);
ALTER TABLE periods
    ADD COLUMN IF NOT EXISTS project_id               text,
    ADD COLUMN IF NOT EXISTS project_name             text,
    ADD COLUMN IF NOT EXISTS project_timezone         text,
    ADD COLUMN IF NOT EXISTS start_date               date,
    ADD COLUMN IF NOT EXISTS end_date                 date,
    ADD COLUMN IF NOT EXISTS due_date                 date,
    ADD COLUMN IF NOT EXISTS due_at                   timestamptz,
    ADD COLUMN IF NOT EXISTS due_as_of                timestamptz,
    ADD COLUMN IF NOT EXISTS opened_by                jsonb,
    ADD COLUMN IF NOT EXISTS reminder_days_before_due integer,
    ADD COLUMN IF NOT EXISTS closed                   boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS periods_open_of_project ON periods (project_id) WHERE NOT closed;

-- migrate:down
DROP TABLE periods;
