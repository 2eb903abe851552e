-- migrate:up
-- A login attempt is counted before its password is checked (so that attempts sent all at once are all
-- counted, without checking passwords one at a time); the id lets a login that succeeds take its count back.
ALTER TABLE throttled_attempts ADD COLUMN attempt_id uuid;
CREATE INDEX throttled_attempts_attempt ON throttled_attempts (attempt_id);

-- migrate:down
DROP INDEX throttled_attempts_attempt;
ALTER TABLE throttled_attempts DROP COLUMN attempt_id;
