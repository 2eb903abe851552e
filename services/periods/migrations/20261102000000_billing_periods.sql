-- migrate:up
CREATE TABLE billing_periods (
    period_id   uuid PRIMARY KEY,
    project_id  text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    due_date    date NOT NULL,
    due_at      timestamptz NOT NULL,
    status      text NOT NULL CHECK (status IN ('open', 'closed')),
    opened_by   jsonb NOT NULL,
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    CHECK (start_date <= end_date AND due_date >= start_date)
);
CREATE INDEX billing_periods_project ON billing_periods (project_id, start_date);
-- At most one open period per project (rule 2), whatever the code does.
CREATE UNIQUE INDEX billing_periods_one_open ON billing_periods (project_id) WHERE status = 'open';

-- migrate:down
DROP TABLE billing_periods;
