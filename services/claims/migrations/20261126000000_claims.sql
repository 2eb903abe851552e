-- migrate:up
-- Billing periods are the period view (shared/migrations/period_view).

-- Invites as far as "My invites and claims" cares: which are still open to answer.
CREATE TABLE invites (
    invite_id         uuid PRIMARY KEY,
    period_id         uuid NOT NULL,
    project_id        text NOT NULL,
    project_name      text NOT NULL,
    commitment_id     text NOT NULL,
    commitment_number text NOT NULL,
    commitment_title  text NOT NULL,
    contact_user_id   text NOT NULL,
    due_date          date NOT NULL
);
CREATE INDEX invites_contact ON invites (contact_user_id);

-- Answers, kept apart: an answer can arrive before its InviteSent.
CREATE TABLE invite_answers (
    invite_id uuid PRIMARY KEY,
    answer    text NOT NULL CHECK (answer IN ('yes', 'no'))
);

-- One progress claim per commitment per period (rule 14).
CREATE TABLE claims (
    claim_id        uuid PRIMARY KEY,
    period_id       uuid NOT NULL,
    project_id      text NOT NULL,
    commitment_id   text NOT NULL,
    contact         jsonb NOT NULL,   -- whom the claim is for
    created_by      jsonb NOT NULL,   -- the contact, or the administrator acting on their behalf
    on_behalf       boolean NOT NULL,
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'under_review', 'approved', 'revise_and_resubmit')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    submitted_at    timestamptz,
    -- Kept at submission, so that the next claim can carry it forward as "less previous claims".
    earned_less_retention numeric,
    UNIQUE (period_id, commitment_id)
);
CREATE INDEX claims_commitment ON claims (commitment_id);

-- What the claim says for each schedule of values line; a line without a row claims nothing yet.
CREATE TABLE claim_lines (
    claim_id         uuid NOT NULL REFERENCES claims ON DELETE CASCADE,
    line_id          text NOT NULL,
    this_period      numeric NOT NULL DEFAULT 0 CHECK (this_period >= 0),
    materials_stored numeric NOT NULL DEFAULT 0 CHECK (materials_stored >= 0),
    PRIMARY KEY (claim_id, line_id)
);

-- An acceptance that arrived before its commitment: the claim is created when the commitment does.
CREATE TABLE waiting_acceptances (
    invite_id     uuid PRIMARY KEY,
    commitment_id text NOT NULL,
    acceptance    jsonb NOT NULL
);
CREATE INDEX waiting_acceptances_commitment ON waiting_acceptances (commitment_id);

-- Contacts' attempts refused after the due date, each announced once (ClaimAttemptRejected).
CREATE TABLE refused_attempts (
    period_id     uuid NOT NULL,
    commitment_id text NOT NULL,
    user_id       text NOT NULL,
    attempt       text NOT NULL,
    PRIMARY KEY (period_id, commitment_id, user_id, attempt)
);

-- Passwords of the users the ERP's directory told us about (Argon2id hashes).
CREATE TABLE accounts (
    user_id       text PRIMARY KEY,
    password_hash text NOT NULL,
    changed_at    timestamptz NOT NULL
);

-- One-time links to set or reset a password.
CREATE TABLE password_requests (
    request_id   uuid PRIMARY KEY,
    user_id      text NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

-- Attempts that count towards a limit: failed logins per account and per address, password link requests
-- per address (`throttle_key` says which).
CREATE TABLE throttled_attempts (
    throttle_key text NOT NULL,
    attempted_at timestamptz NOT NULL
);
CREATE INDEX throttled_attempts_key ON throttled_attempts (throttle_key, attempted_at);

-- migrate:down
DROP TABLE throttled_attempts;
DROP TABLE password_requests;
DROP TABLE accounts;
DROP TABLE refused_attempts;
DROP TABLE waiting_acceptances;
DROP TABLE claim_lines;
DROP TABLE claims;
DROP TABLE invite_answers;
DROP TABLE invites;
