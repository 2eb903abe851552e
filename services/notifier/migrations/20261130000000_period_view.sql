-- migrate:up
-- Whether a period's reminders have been scheduled (rule 9): the notifier's own, beside its period view.
ALTER TABLE periods ADD COLUMN IF NOT EXISTS reminders_scheduled boolean NOT NULL DEFAULT false;

-- A database made before the period view was shared kept the notifier's own shape, with a `status` column
-- and every column required: bring it to the shared shape (shared/migrations/period_view).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'periods' AND column_name = 'status') THEN
        UPDATE periods SET closed = (status = 'closed');
        DROP INDEX IF EXISTS periods_open_by_project;
        ALTER TABLE periods DROP COLUMN status,
            ALTER COLUMN project_id DROP NOT NULL, ALTER COLUMN project_name DROP NOT NULL,
            ALTER COLUMN project_timezone DROP NOT NULL, ALTER COLUMN start_date DROP NOT NULL,
            ALTER COLUMN end_date DROP NOT NULL, ALTER COLUMN due_date DROP NOT NULL,
            ALTER COLUMN due_at DROP NOT NULL, ALTER COLUMN opened_by DROP NOT NULL;
    END IF;
END $$;

-- migrate:down
ALTER TABLE periods DROP COLUMN reminders_scheduled;
