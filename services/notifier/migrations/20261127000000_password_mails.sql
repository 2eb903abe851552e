-- migrate:up
-- One row per one-time password link to email (PasswordLinkRequested on `accounts`), written before the
-- send, which happens outside the handler's transaction. The link itself is not stored: it is the request
-- id signed with the shared secret, made again when the email is built.
CREATE TABLE password_mails (
    request_id      text PRIMARY KEY,
    user_id         text NOT NULL,
    name            text NOT NULL,
    email           text NOT NULL,
    message_id      text NOT NULL,
    requested_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'expired')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_reply      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX password_mails_pending ON password_mails (next_attempt_at) WHERE status = 'pending';

CREATE TRIGGER password_mails_inserted AFTER INSERT ON password_mails
    FOR EACH STATEMENT EXECUTE FUNCTION notify_channel('password_mails');

-- migrate:down
DROP TABLE password_mails;
