-- migrate:up
-- Rule 18c: a submitted claim whose payment schedule is due (ProgressClaimSubmitted with payment_schedule_due),
-- one row per claim and revision, written in the consumer's transaction. The payment-schedule reminder worker
-- (before each look at its mail table, by the service's clock, as the invite worker schedules reminders) turns a
-- running clock whose reminder time has come (two business days before `due`, in the project's region and time
-- zone as the ERP read model knows them then: topics are not ordered) into one email per administrator of the
-- project, once: `status` goes from 'running' to 'reminded'. An approval or a request to revise stops the clock ('stopped') and cancels any
-- reminder not sent yet.
CREATE TABLE payment_schedule_clocks (
    claim_id        text NOT NULL,
    revision        integer NOT NULL,
    project_id      text NOT NULL,
    submitted       jsonb NOT NULL,  -- the event's data as it came
    due             date NOT NULL,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'reminded', 'stopped')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (claim_id, revision)
);
CREATE INDEX payment_schedule_clocks_running ON payment_schedule_clocks (due) WHERE status = 'running';

-- The reminders, as the other mail tables: written before the send, leased by the worker that sends them.
-- `mail_id` is the claim, the revision and the administrator: one email each, however often the worker runs.
CREATE TABLE payment_schedule_reminder_mails (
    mail_id          text PRIMARY KEY,
    claim_id         text NOT NULL,
    revision         integer NOT NULL,
    administrator    jsonb NOT NULL,  -- {id, name, email}
    reminder         jsonb NOT NULL,  -- what the email says: project, commitment, contact, due day, Act, amount
    message_id       text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_reply       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    lease            uuid,
    lease_expires_at timestamptz,
    leased_by        text
);
CREATE INDEX payment_schedule_reminder_mails_pending ON payment_schedule_reminder_mails (next_attempt_at)
    WHERE status = 'pending';

CREATE TRIGGER payment_schedule_reminder_mails_inserted AFTER INSERT ON payment_schedule_reminder_mails
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('payment_schedule_reminder_mails');

-- migrate:down
DROP TABLE payment_schedule_reminder_mails;
DROP TABLE payment_schedule_clocks;
