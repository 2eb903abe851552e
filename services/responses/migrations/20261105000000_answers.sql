-- migrate:up
-- Billing periods are the period view (shared/migrations/period_view).

-- Invites this service has heard of (InviteSent), with what the page shows.
CREATE TABLE invites (
    invite_id         uuid PRIMARY KEY,
    period_id         uuid NOT NULL,
    project_id        text NOT NULL,
    project_name      text NOT NULL,
    project_timezone  text NOT NULL,
    commitment_id     text NOT NULL,
    commitment_number text NOT NULL,
    commitment_title  text NOT NULL,
    vendor_name       text NOT NULL,
    contact           jsonb NOT NULL,
    invited_by        jsonb NOT NULL,
    start_date        date NOT NULL,
    end_date          date NOT NULL,
    due_date          date NOT NULL,
    due_at            timestamptz NOT NULL
);

-- The contact's current answer to an invite.
CREATE TABLE answers (
    invite_id   uuid PRIMARY KEY REFERENCES invites,
    answer      text NOT NULL CHECK (answer IN ('yes', 'no')),
    answered_at timestamptz NOT NULL
);

-- migrate:down
DROP TABLE answers;
DROP TABLE invites;
