-- migrate:up
ALTER TABLE billing_periods ADD COLUMN reminder_days_before_due integer
    CHECK (reminder_days_before_due BETWEEN 1 AND 60);

-- migrate:down
ALTER TABLE billing_periods DROP COLUMN reminder_days_before_due;
