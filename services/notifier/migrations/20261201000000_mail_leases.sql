-- migrate:up
-- Every notifier replica sends mail: a worker claims a row by writing a lease on it (FOR UPDATE SKIP LOCKED,
-- services/notifier/repository.py) and renews it while the row's send is in flight. Another replica takes
-- the row only once `lease_expires_at` has passed (its holder died), and only the holder of `lease` may record
-- what became of the row. `leased_by` names the replica that holds it, or held it last, for people.
ALTER TABLE deliveries
    ADD COLUMN lease            uuid,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN leased_by        text;
ALTER TABLE password_mails
    ADD COLUMN lease            uuid,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN leased_by        text;

-- migrate:down
ALTER TABLE password_mails DROP COLUMN lease, DROP COLUMN lease_expires_at, DROP COLUMN leased_by;
ALTER TABLE deliveries DROP COLUMN lease, DROP COLUMN lease_expires_at, DROP COLUMN leased_by;
