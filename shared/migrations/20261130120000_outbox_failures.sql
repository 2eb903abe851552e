-- migrate:up
-- A row the broker refuses for good (too large, a topic that cannot exist, no authorization) is marked failed
-- with the reason, and passed over so later events flow; an operator sees it and retries it (`itb outbox`).
ALTER TABLE outbox
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN failure   text,
    ADD CONSTRAINT outbox_failed_is_unpublished CHECK (failed_at IS NULL OR published_at IS NULL);

-- What the relay reads: waiting rows, in order.
DROP INDEX outbox_unpublished;
CREATE INDEX outbox_waiting ON outbox (position) WHERE published_at IS NULL AND failed_at IS NULL;
-- Failed rows hold back their aggregate's later events (shared/outbox.py says why).
CREATE INDEX outbox_failed ON outbox (topic, aggregate_id, position) WHERE failed_at IS NOT NULL;

-- migrate:down
DROP INDEX outbox_failed;
DROP INDEX outbox_waiting;
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_failed_is_unpublished, DROP COLUMN failure, DROP COLUMN failed_at;
