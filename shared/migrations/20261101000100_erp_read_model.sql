-- migrate:up
-- The ERP's commitments and project members as this service last heard of them (DESIGN.md section 4).
CREATE TABLE erp_projects (
    project_id   text PRIMARY KEY,
    name         text NOT NULL,
    timezone     text NOT NULL,
    currency     text NOT NULL,
    company_name text NOT NULL DEFAULT '',
    event_time   timestamptz NOT NULL
);

CREATE TABLE erp_commitments (
    commitment_id     text PRIMARY KEY,
    version           bigint NOT NULL,
    project_id        text NOT NULL,
    kind              text NOT NULL,
    number            text NOT NULL,
    title             text NOT NULL,
    status            text NOT NULL,
    vendor_id         text NOT NULL,
    vendor_name       text NOT NULL,
    retention_percent numeric NOT NULL,
    invoice_contacts  jsonb NOT NULL,
    schedule_of_values jsonb NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erp_commitments_project ON erp_commitments (project_id);

-- One row per (user, project); a removal keeps the row (removed = true) so an older upsert cannot revive it.
CREATE TABLE erp_project_members (
    user_id                text NOT NULL,
    project_id             text NOT NULL,
    version                bigint NOT NULL,
    name                   text NOT NULL DEFAULT '',
    email                  text NOT NULL DEFAULT '',
    company_name           text NOT NULL DEFAULT '',
    commitments_permission text NOT NULL DEFAULT 'none',
    removed                boolean NOT NULL DEFAULT false,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, project_id)
);

-- A user's name and email are those of their newest membership event, whichever project it was for;
-- versions count per membership, so "newest" across projects is by the event's time.
CREATE TABLE erp_users (
    user_id     text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    event_time  timestamptz NOT NULL
);
CREATE INDEX erp_users_email ON erp_users (lower(email));

-- migrate:down
DROP TABLE erp_users;
DROP TABLE erp_project_members;
DROP TABLE erp_commitments;
DROP TABLE erp_projects;
