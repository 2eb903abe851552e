-- migrate:up
-- Each account's session version, as the claims service last announced it (SessionsEnded on `accounts`): a
-- session made with a lower version was ended by a logout or a new password. No row: nothing ended yet.
CREATE TABLE session_versions (
    user_id         text PRIMARY KEY,
    session_version integer NOT NULL,
    ended_at        timestamptz NOT NULL
);

-- migrate:down
DROP TABLE session_versions;
