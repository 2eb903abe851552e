-- migrate:up
-- Events waiting to be published: written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    position       bigserial PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    topic          text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    event_type     text NOT NULL,
    envelope       jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

-- Wakes a background worker (shared/background.py) listening on the channel named in the trigger, as soon
-- as the inserting transaction commits.
CREATE FUNCTION notify_channel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('outbox');

-- Events already handled, per consumer: a redelivered event finds its row and has no second effect.
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- migrate:down
DROP TABLE inbox;
DROP TRIGGER outbox_inserted ON outbox;
DROP FUNCTION notify_channel();
DROP TABLE outbox;
