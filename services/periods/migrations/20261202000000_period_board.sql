-- migrate:up
-- The period board (issue 10): per (period, commitment, contact), what the invites', responses' and claims'
-- events told (services/periods/domain/board.py, RowFacts, merged there whatever the order), and the newest
-- event's own time, for how fresh the board is.
CREATE TABLE period_board_rows (
    period_id       text NOT NULL,
    commitment_id   text NOT NULL,
    contact_user_id text NOT NULL,
    facts           jsonb NOT NULL,
    as_of           timestamptz,
    PRIMARY KEY (period_id, commitment_id, contact_user_id)
);
CREATE INDEX period_board_rows_as_of ON period_board_rows (period_id, as_of);

-- Commitments the notifier found not invitable this period (InviteSkipped, rule 5).
CREATE TABLE period_board_skips (
    period_id     text NOT NULL,
    commitment_id text NOT NULL,
    facts         jsonb NOT NULL,
    as_of         timestamptz NOT NULL,
    PRIMARY KEY (period_id, commitment_id)
);

-- A count of the changes to each period's board, raised in the transaction of each change: a page that polls
-- sees it move with every change, in commit order (the row's lock orders them), an older event arriving late
-- included. (A time would not do: a transaction that started first may commit last.)
CREATE TABLE period_board_changes (
    period_id text PRIMARY KEY,
    changes   bigint NOT NULL
);

-- migrate:down
DROP TABLE period_board_changes;
DROP TABLE period_board_skips;
DROP TABLE period_board_rows;
