"""What the notifier's two senders share: mail rows written before their send, sent outside any transaction.

Each pending row of the worker's table is sent by a task of its own, a few per SMTP connection, so that a
slow send holds up only its own connection; a row is never fetched again while its send is under way. A
crash mid-send leaves the row pending, and it is sent again after the restart with the same Message-ID.
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import ClassVar

import asyncpg

from services.notifier.domain import RetryPolicy
from services.notifier.mailer import SmtpMailer
from shared.background import ListeningWorker
from shared.service import ServiceResources

log = logging.getLogger(__name__)


class MailWorker(ListeningWorker):
    table: ClassVar[str]  # its rows: `status`, `attempts`, `next_attempt_at`, `last_reply`, `sent_at`
    key: ClassVar[str]  # the table's primary key

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer, retry: RetryPolicy):
        super().__init__(resources.settings.service_database_url())
        self._pool = resources.pool
        self._settings = resources.settings
        self._clock = resources.clock
        self._mailer = mailer
        self._retry = retry
        self._in_flight: dict[object, asyncio.Task] = {}  # by key
        self._most_in_flight = 4 * resources.settings.smtp_connections

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[asyncpg.Record]:
        """Rows due to be sent now, oldest first, leaving out those `in_flight`."""
        raise NotImplementedError

    async def attempt(self, row: asyncpg.Record) -> None:
        """Send the row's mail once and record the outcome (`retry_later`, or `mark` it)."""
        raise NotImplementedError

    async def before_fetching(self) -> None:
        """Work to do before each look at the table (the invite worker schedules reminders)."""

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        await self.before_fetching()
        room = self._most_in_flight - len(self._in_flight)
        if room > 0:
            for row in await self.pending(connection, room, list(self._in_flight)):
                task = asyncio.create_task(self._deliver(row))
                self._in_flight[row[self.key]] = task
                task.add_done_callback(lambda _, key=row[self.key]: self._done(key))
        # Backoff is wall-clock time (the database's), unlike due dates, which follow the service clock.
        return await connection.fetchval(
            f"""
            SELECT min(next_attempt_at) - now() FROM {self.table}
            WHERE status = 'pending' AND next_attempt_at > now()
            """
        )

    def _done(self, key) -> None:
        self._in_flight.pop(key, None)
        self.wake()

    async def stop(self, grace_seconds: float = 10) -> None:
        await super().stop(grace_seconds)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=grace_seconds)

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            await self.attempt(row)
        except Exception as error:
            # Tried again later, behind the others: an attempt that keeps breaking holds nothing up.
            log.exception("mail attempt failed", extra={self.key: str(row[self.key])})
            with contextlib.suppress(Exception):  # the database may be what failed; the safety poll comes back
                await self.retry_later(row, f"unexpected error: {error}")

    async def retry_later(self, row: asyncpg.Record, reply: str) -> None:
        attempts = row["attempts"] + 1
        await self._pool.execute(
            f"""
            UPDATE {self.table} SET attempts = $2, next_attempt_at = now() + $3, last_reply = $4
            WHERE {self.key} = $1 AND status = 'pending'
            """,
            row[self.key],
            attempts,
            self._retry.delay(attempts),
            reply,
        )

    async def mark(self, connection: asyncpg.Connection, row: asyncpg.Record, status: str, reply: str | None) -> bool:
        """Record how the row ended; False when it had ended already (nothing more to announce)."""
        return bool(
            await connection.fetchval(
                f"""
                UPDATE {self.table} SET status = $2, last_reply = $3, attempts = attempts + 1,
                    sent_at = CASE WHEN $2 = 'sent' THEN now() END
                WHERE {self.key} = $1 AND status = 'pending' RETURNING true
                """,
                row[self.key],
                status,
                reply,
            )
        )
