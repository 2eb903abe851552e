-- migrate:up
-- What the retention job (shared/retention.py) prunes by: published outbox rows and inbox rows, by age.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX inbox_handled ON inbox (handled_at);

-- migrate:down
DROP INDEX inbox_handled;
DROP INDEX outbox_published;
