"""Retention: published outbox rows and inbox rows are pruned once older than their settings say, by a job that
runs in one replica at a time (it holds an advisory lock, as the outbox relay does) about once an hour.

An inbox row is what stops a redelivered event having a second effect, so inbox rows are kept at least as long
as any event can come again: longer than the outbox keeps published events (`itb up` replays those into a fresh
broker, shared/outbox.py) and than Kafka keeps its topics' messages (its retention.ms, seven days by default).
The settings refuse an inbox retention shorter than the outbox's.
"""

import logging
from datetime import timedelta

import asyncpg

from shared.background import ListeningWorker
from shared.settings import Settings

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(hours=1)
_BATCH = 5_000  # rows deleted per statement: short transactions, so nothing waits long behind a prune


class Retention(ListeningWorker):
    channel = "retention"  # nothing notifies it: it runs when started and then every PRUNE_EVERY
    lock_key = 0x17B0_0002

    def __init__(self, settings: Settings):
        super().__init__(settings.service_database_url(), safety_poll_seconds=PRUNE_EVERY.total_seconds())
        self._outbox_age = timedelta(days=settings.outbox_retention_days)
        self._inbox_age = timedelta(days=settings.inbox_retention_days)

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        outbox = await _prune(connection, "outbox", "published_at", self._outbox_age)
        inbox = await _prune(connection, "inbox", "handled_at", self._inbox_age)
        if outbox or inbox:
            log.info("retention pruned old rows", extra={"outbox_rows": outbox, "inbox_rows": inbox})
        return PRUNE_EVERY


async def _prune(connection: asyncpg.Connection, table: str, aged: str, age: timedelta) -> int:
    """Delete the table's rows whose `aged` time is older than `age`, a batch at a time; how many."""
    pruned = 0
    while True:
        status = await connection.execute(
            f"DELETE FROM {table} WHERE ctid IN "
            f"(SELECT ctid FROM {table} WHERE {aged} < now() - $1::interval LIMIT {_BATCH})",
            age,
        )
        deleted = int(status.split()[-1])
        pruned += deleted
        if deleted < _BATCH:
            return pruned
