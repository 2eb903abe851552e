-- migrate:up
-- A project's schedule (rule 4a): monthly from a day of the month (a month without that day starts on its last),
-- or every N weeks from a first start; due a number of days after each period ends; optional reminder days.
-- Whoever set it last is Invited By for the periods it opens.
CREATE TABLE project_schedules (
    project_id               text PRIMARY KEY,
    cadence                  text NOT NULL CHECK (cadence IN ('monthly', 'weekly')),
    day_of_month             integer CHECK (day_of_month BETWEEN 1 AND 31),
    every_weeks              integer CHECK (every_weeks BETWEEN 1 AND 8),
    first_start              date,
    days_to_claim            integer NOT NULL CHECK (days_to_claim BETWEEN 0 AND 60),
    reminder_days_before_due integer CHECK (reminder_days_before_due BETWEEN 1 AND 60),
    paused                   boolean NOT NULL DEFAULT false,
    paused_because           text,  -- a sentence, when the schedule paused itself
    set_by                   jsonb NOT NULL,
    set_at                   timestamptz NOT NULL,
    -- The day (project's time zone) it was set or last resumed: it opens no period that started before.
    opens_from               date NOT NULL,
    CHECK ((cadence = 'monthly' AND day_of_month IS NOT NULL)
        OR (cadence = 'weekly' AND every_weeks IS NOT NULL AND first_start IS NOT NULL))
);
-- Wakes the scheduler (services/periods/scheduler.py) when a schedule is set, changed, paused or resumed.
CREATE TRIGGER project_schedules_changed AFTER INSERT OR UPDATE ON project_schedules
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('schedules');

-- What each schedule opened: one row per (project, start), written in the opening's transaction, so that two
-- schedulers racing (two replicas, or one restarted) cannot both open the same period, whatever their locks say.
CREATE TABLE scheduled_openings (
    project_id text NOT NULL,
    start_date date NOT NULL,
    period_id  uuid NOT NULL,
    opened_at  timestamptz NOT NULL,
    PRIMARY KEY (project_id, start_date)
);

-- The project's default reminder days (rule 9): a period opened without its own takes it.
CREATE TABLE project_reminders (
    project_id               text PRIMARY KEY,
    reminder_days_before_due integer CHECK (reminder_days_before_due BETWEEN 1 AND 60),
    set_by                   jsonb NOT NULL,
    set_at                   timestamptz NOT NULL
);

-- migrate:down
DROP TABLE project_reminders;
DROP TABLE scheduled_openings;
DROP TABLE project_schedules;
