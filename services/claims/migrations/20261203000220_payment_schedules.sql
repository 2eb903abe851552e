-- migrate:up
-- Rule 18c: the day by which the builder must give a payment schedule for the claim's latest submission (NULL on a
-- project without a Security of Payment Act). The clock stops when the claim leaves review (approved or sent
-- back): its status says so, so nothing more is stored.
ALTER TABLE claims ADD COLUMN payment_schedule_due date;

-- A project may set an earlier number of business days than its Act allows (never later).
CREATE TABLE project_payment_schedule_days (
    project_id text PRIMARY KEY,
    days integer NOT NULL CHECK (days > 0),
    set_by jsonb NOT NULL,
    set_at timestamptz NOT NULL
);

-- migrate:down
DROP TABLE project_payment_schedule_days;
ALTER TABLE claims DROP COLUMN payment_schedule_due;
