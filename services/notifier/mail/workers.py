"""The mail workers: each sends what its table holds, outside any transaction, and records every outcome.

A row exists before its send (written by a use case), so a crash mid-send leaves it pending, and it is sent
again after the restart with the same Message-ID. Each pending row is sent by a task of its own, a few per
SMTP connection, so that a slow send holds up only its own connection; a row is never fetched again while
its send is under way. The outcome of one attempt: cancelled (rules 7 and 9; an expired password link),
sent, retried later with backoff (4xx, connection lost), or failed (5xx, or an email that cannot be built).
"""

import asyncio
import contextlib
import logging
from datetime import timedelta
from email.message import EmailMessage
from typing import ClassVar

import asyncpg

from services.notifier import repository, use_cases
from services.notifier.domain import Delivery, PasswordMail, RetryPolicy
from services.notifier.mail.emails import InviteEmail, PasswordEmail, build_message, build_password_message
from services.notifier.mail.smtp import PermanentFailure, SmtpMailer, TemporaryFailure
from shared.background import ListeningWorker
from shared.service import ServiceResources

log = logging.getLogger(__name__)


class MailWorker(ListeningWorker):
    table: ClassVar[repository.MailTable]
    not_sent: ClassVar[str]  # the status of a row that will not be sent (`reason_not_to_send`)

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer, retry: RetryPolicy):
        super().__init__(resources.settings.service_database_url())
        self._pool = resources.pool
        self._settings = resources.settings
        self._clock = resources.clock
        self._mailer = mailer
        self._retry = retry
        self._in_flight: dict[object, asyncio.Task] = {}  # by the row's key
        self._most_in_flight = 4 * resources.settings.smtp_connections

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list):
        """Rows due to be sent now, oldest first, leaving out those `in_flight`."""
        raise NotImplementedError

    def build(self, row) -> EmailMessage:
        raise NotImplementedError

    async def finish(self, row, status: str, reply: str | None) -> None:
        """Record how the row ended (with its event, if it has one)."""
        raise NotImplementedError

    async def before_fetching(self) -> None:
        """Work to do before each look at the table (the invite worker schedules reminders)."""

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        await self.before_fetching()
        room = self._most_in_flight - len(self._in_flight)
        if room > 0:
            for row in await self.pending(connection, room, list(self._in_flight)):
                task = asyncio.create_task(self._deliver(row))
                self._in_flight[row.key] = task
                task.add_done_callback(lambda _, key=row.key: self._done(key))
        return await repository.next_attempt_in(connection, self.table)

    async def attempt(self, row) -> None:
        """Send the row's mail once and record the outcome."""
        about = {self.table.key: str(row.key)}
        reason = row.reason_not_to_send(self._clock())
        if reason is not None:
            await self.finish(row, self.not_sent, reason)
            return
        try:
            message = self.build(row)
        except Exception as error:
            # A message that cannot be built never will be (an address no email can carry, say): fail it
            # rather than hold the others up.
            log.warning("email could not be built", extra=about | {"error": str(error)})
            await self.finish(row, "failed", f"the email could not be built: {error}")
            return
        try:
            await self._mailer.send(message)
        except TemporaryFailure as failure:
            log.warning("email will be retried", extra=about | {"reply": str(failure)})
            await self._retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("email failed", extra=about | {"reply": str(failure)})
            await self.finish(row, "failed", str(failure))
        else:
            await self.finish(row, "sent", None)

    def _done(self, key) -> None:
        self._in_flight.pop(key, None)
        self.wake()

    async def stop(self, grace_seconds: float = 10) -> None:
        await super().stop(grace_seconds)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=grace_seconds)

    async def _deliver(self, row) -> None:
        try:
            await self.attempt(row)
        except Exception as error:
            # Tried again later, behind the others: an attempt that keeps breaking holds nothing up.
            log.exception("mail attempt failed", extra={self.table.key: str(row.key)})
            with contextlib.suppress(Exception):  # the database may be what failed; the safety poll comes back
                await self._retry_later(row, f"unexpected error: {error}")

    async def _retry_later(self, row, reply: str) -> None:
        attempts = row.attempts + 1
        async with self._pool.acquire() as connection:
            await repository.retry_later(connection, self.table, row.key, attempts, self._retry.delay(attempts), reply)


class InviteMailWorker(MailWorker):
    """Sends the emails about invites: the invite, a resend, a reminder (the deliveries table)."""

    channel = "deliveries"
    lock_key = 0x17B0_0002
    table = repository.DELIVERIES
    not_sent = "cancelled"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        retry = RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds)
        super().__init__(resources, mailer, retry)

    async def before_fetching(self) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await use_cases.schedule_reminders(connection, self._clock())

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[Delivery]:
        return await repository.pending_deliveries(connection, limit, in_flight)

    def build(self, delivery: Delivery) -> EmailMessage:
        email = InviteEmail(invite=delivery.invite, kind=delivery.kind, message_id=delivery.message_id)
        return build_message(email, self._settings, self._clock())

    async def finish(self, delivery: Delivery, status: str, reply: str | None) -> None:
        await use_cases.delivery_outcome(self._pool, delivery, status, reply, self._clock())


class PasswordMailWorker(MailWorker):
    """Sends the one-time password links (the password_mails table)."""

    channel = "password_mails"
    lock_key = 0x17B0_0003
    table = repository.PASSWORD_MAILS
    not_sent = "expired"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        # A link lasts an hour: after an outage it should go out within a minute of the mail server's return.
        retry = RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds, max_delay_seconds=60)
        super().__init__(resources, mailer, retry)

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[PasswordMail]:
        return await repository.pending_password_mails(connection, limit, in_flight)

    def build(self, mail: PasswordMail) -> EmailMessage:
        email = PasswordEmail(
            request_id=mail.key,
            message_id=mail.message_id,
            name=mail.name,
            email=mail.email,
            expires_at=mail.expires_at,
        )
        return build_password_message(email, self._settings, self._clock())

    async def finish(self, mail: PasswordMail, status: str, reply: str | None) -> None:
        await use_cases.password_mail_outcome(self._pool, mail, status, reply)
