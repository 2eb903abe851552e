"""The mail workers: each sends what its table holds, outside any transaction, and records every outcome.

A row exists before its send (written by a use case). Every replica of the notifier runs these workers, and
they share the rows by leases (repository `_claim`): a worker leases a few rows due now, renews their leases
while they are in flight, and records an outcome only while it holds the row's lease. A replica that dies
mid-send loses its rows when their leases expire, and another sends them again with the same Message-ID.

Each leased row is sent by a task of its own, waiting its turn for one of the SMTP connections, so that a slow
send holds up only its own connection. Rows are leased in batches (a few dozen per connection, leased again
when half of them are done), and the outcomes of sends that ended close together are recorded together, in
one transaction (`OutcomeBatches`): a database round trip per email would cost more than the email. The
outcome of one attempt: cancelled (rules 7 and 9; an expired password link), sent, retried later with backoff
(4xx, connection lost; an email about an invite says so with InviteDeliveryDeferred), or failed (5xx, or an
email that cannot be built).
"""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import ClassVar

import asyncpg
from opentelemetry.trace import SpanKind

from services.notifier import repository, use_cases
from services.notifier.domain import ClaimReviewMail, Delivery, PasswordMail, PaymentScheduleReminderMail, RetryPolicy
from services.notifier.mail.emails import (
    InviteEmail,
    InviteEmails,
    Outgoing,
    PasswordEmail,
    build_claim_review_message,
    build_password_message,
    build_payment_schedule_reminder,
)
from services.notifier.mail.smtp import PermanentFailure, SmtpMailer, TemporaryFailure
from services.notifier.use_cases import MailOutcome
from shared.background import ListeningWorker
from shared.logs import correlation_id_var
from shared.service import ServiceResources
from shared.tracing import current_trace_context, event_span

log = logging.getLogger(__name__)

# Rows leased at once for each SMTP connection: enough that leasing is rare next to sending, few enough that a
# replica does not hold many more rows than it is sending (the others may take the rest).
_LEASED_PER_CONNECTION = 32


class OutcomeBatches:
    """Outcomes written together: the first waits at most `wait_seconds` for others, and a batch of `most` is
    written at once. Each `add` returns once its outcome is written (or raises what writing it raised), so a
    send's task ends only when its outcome is recorded, as when each was written alone."""

    def __init__(self, write: Callable[[list[MailOutcome]], Awaitable[None]], most: int, wait_seconds: float):
        self._write = write
        self._most = most
        self._wait_seconds = wait_seconds
        self._batch: list[tuple[MailOutcome, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task] = set()

    async def add(self, outcome: MailOutcome) -> None:
        written = asyncio.get_running_loop().create_future()
        self._batch.append((outcome, written))
        if len(self._batch) >= self._most:
            self._write_batch()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._wait_seconds, self._write_batch)
        await written

    def _write_batch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        if batch:
            task = asyncio.create_task(self._write_all(batch))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write_all(self, batch: list[tuple[MailOutcome, asyncio.Future]]) -> None:
        try:
            await self._write([outcome for outcome, _ in batch])
        except Exception as error:
            for _, written in batch:
                if not written.done():
                    written.set_exception(error)
        else:
            for _, written in batch:
                if not written.done():
                    written.set_result(None)


@dataclass
class InFlight:
    """A leased row and the task sending it; `started` once the task no longer waits for a connection (or
    decided not to send): from then on it runs to its end, even while the worker stops."""

    row: Delivery | PasswordMail | ClaimReviewMail | PaymentScheduleReminderMail
    task: asyncio.Task | None = None
    started: bool = False


class MailWorker(ListeningWorker):
    table: ClassVar[repository.MailTable]
    not_sent: ClassVar[str]  # the status of a row that will not be sent (`reason_not_to_send`)

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer, retry: RetryPolicy | None = None):
        super().__init__(resources.settings.service_database_url())
        settings = resources.settings
        self._pool = resources.pool
        self._settings = settings
        self._clock = resources.clock
        self._metrics = resources.metrics
        self._mailer = mailer
        self._retry = retry or RetryPolicy(first_delay_seconds=settings.smtp_retry_first_delay_seconds)
        self._lease_time = timedelta(seconds=settings.mail_lease_seconds)
        self._renew_every = settings.mail_lease_seconds / 3  # two chances more before a lease runs out
        self._renew_at = 0.0  # the event loop's time
        # For people reading the tables; the random part tells apart workers of one process, and a container
        # restarted with its old name and pid from the one before.
        self._leased_by = f"{socket.gethostname()} pid {os.getpid()} {self.channel} {uuid.uuid4().hex[:6]}"
        self._in_flight: dict[object, InFlight] = {}  # by the row's key
        self._most_in_flight = _LEASED_PER_CONNECTION * settings.smtp_connections
        self._outcomes = OutcomeBatches(self.record_outcomes, most=self._most_in_flight // 2, wait_seconds=0.05)
        self._letting_go = False

    async def claim(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list:
        """Lease rows due to be sent now, oldest first, leaving out those `in_flight`."""
        raise NotImplementedError

    def build(self, row, headers: dict[str, str]) -> EmailMessage | Outgoing:
        """The row's email, with `headers` added (the send's trace)."""
        raise NotImplementedError

    async def finish(self, row, status: str, reply: str | None) -> None:
        """Record how the row ended (with its event, if it has one), if its lease is still held: together with
        the outcomes of other sends ended about now."""
        outcome = MailOutcome(row, status, reply, self._clock(), current_trace_context(), correlation_id_var.get())
        await self._outcomes.add(outcome)

    async def record_outcomes(self, outcomes: list[MailOutcome]) -> None:
        """Write the outcomes of many sends at once (with their events, if they have them)."""
        await use_cases.mail_outcomes(self._pool, self.table, outcomes)

    async def defer(self, row, attempts: int, delay: timedelta, reply: str) -> bool:
        """Record that the row is tried again after `delay` (with its event, if it has one), if its lease is
        still held; False when it was not."""
        return await use_cases.mail_deferred(self._pool, self.table, row.key, row.lease, attempts, delay, reply)

    async def withdrawn(self, row) -> bool:
        """Whether the row was ended since it was leased, so that its email must not go (looked at just before
        sending it: it may have waited long for a connection)."""
        return False

    async def before_fetching(self) -> None:
        """Work to do before each look at the table (the invite worker schedules reminders)."""

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        await self._renew_leases_when_due(connection)
        room = self._most_in_flight - len(self._in_flight)
        # Woken as each send ends: the table is looked at again once half the rows in flight are done.
        if self._letting_go or (self._in_flight and room < self._most_in_flight // 2):
            return self._until_renewal()
        await self.before_fetching()
        leased = await self.claim(connection, room, list(self._in_flight))
        if self._letting_go:  # told to stop while leasing
            await self._give_back(leased)
        else:
            self._start(leased)
        if len(leased) == room:  # more may be due now: looked at again as these are sent
            return self._until_renewal()
        next_attempt = await repository.next_attempt_in(connection, self.table)
        if not self._in_flight:
            return next_attempt
        renewal = self._until_renewal()
        return renewal if next_attempt is None else min(next_attempt, renewal)

    def _until_renewal(self) -> timedelta | None:
        if not self._in_flight:
            return None
        return timedelta(seconds=max(self._renew_at - asyncio.get_running_loop().time(), 0))

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Lease nothing more, give back at once the rows whose send has not started, and let the sends in
        flight finish and record their outcomes (within `grace_seconds`, the lease time unless given; their
        leases are renewed meanwhile); then stop."""
        self._letting_go = True
        waiting = [flight for flight in self._in_flight.values() if not flight.started]
        for flight in waiting:
            flight.task.cancel()
        await self._give_back([flight.row for flight in waiting])
        started = [flight.task for flight in self._in_flight.values() if flight.started]
        if started:
            grace = self._lease_time.total_seconds() if grace_seconds is None else grace_seconds
            _, unfinished = await asyncio.wait(started, timeout=grace)
            if unfinished:
                log.warning(
                    "sends still under way when the notifier stopped: their rows go to another replica when their "
                    "leases expire, with the same Message-ID",
                    extra={"count": len(unfinished)},
                )
                for task in unfinished:
                    task.cancel()
        await super().stop()

    def _start(self, rows: list) -> None:
        for row in rows:
            flight = InFlight(row)
            flight.task = asyncio.create_task(self._deliver(flight))
            flight.task.add_done_callback(lambda _, key=row.key: self._done(key))
            self._in_flight[row.key] = flight
        if rows and len(self._in_flight) == len(rows):  # the first in flight: renew within a third of the lease
            self._renew_at = asyncio.get_running_loop().time() + self._renew_every

    async def _renew_leases_when_due(self, connection: asyncpg.Connection) -> None:
        loop = asyncio.get_running_loop()
        if not self._in_flight or loop.time() < self._renew_at:
            return
        self._renew_at = loop.time() + self._renew_every
        flights = list(self._in_flight.values())
        held = await repository.renew_leases(connection, self.table, [f.row.lease for f in flights], self._lease_time)
        for flight in flights:
            if flight.row.lease not in held and not flight.started and not flight.task.done():
                # Taken over while it waited for a connection (this worker was away longer than the lease).
                log.warning("a lease was lost before its send started", extra={self.table.key: str(flight.row.key)})
                flight.task.cancel()

    async def _give_back(self, rows: list) -> None:
        if not rows:
            return
        try:
            async with self._pool.acquire() as connection:
                await repository.release_leases(connection, self.table, [row.lease for row in rows])
        except (OSError, asyncpg.PostgresError) as error:
            log.warning(
                "rows not started could not be given back; another replica takes them when their leases expire",
                extra={"error": str(error), "count": len(rows)},
            )

    def _done(self, key) -> None:
        self._in_flight.pop(key, None)
        self.wake()

    async def _deliver(self, flight: InFlight) -> None:
        try:
            with event_span(f"send {self.kind_of(flight.row)} email", self.trace_of(flight.row), SpanKind.CLIENT):
                await self._attempt(flight)
        except Exception as error:
            # Tried again later, behind the others: an attempt that keeps breaking holds nothing up.
            log.exception("mail attempt failed", extra={self.table.key: str(flight.row.key)})
            with contextlib.suppress(Exception):  # the database may be what failed; the lease then expires
                await self._retry_later(flight.row, f"unexpected error: {error}")

    async def _attempt(self, flight: InFlight) -> None:
        """Send the row's mail once and record the outcome."""
        row = flight.row
        about = {self.table.key: str(row.key)}
        reason = row.reason_not_to_send(self._clock())
        if reason is not None:
            flight.started = True
            await self.finish(row, self.not_sent, reason)
            self._count(row, self.not_sent)
            return
        # The send's trace, so that one trace runs from what caused the email to the email itself.
        headers = {header.capitalize(): value for header, value in current_trace_context().items()}
        try:
            message = self.build(row, headers)
        except Exception as error:
            # A message that cannot be built never will be (an address no email can carry, say): fail it
            # rather than hold the others up.
            flight.started = True
            log.warning("email could not be built", extra=about | {"error": str(error)})
            await self.finish(row, "failed", f"the email could not be built: {error}")
            self._count(row, "failed")
            return
        try:
            async with self._mailer.turn() as send:
                flight.started = True
                if await self.withdrawn(row):
                    log.info("email withdrawn before it went", extra=about)
                    self._count(row, self.not_sent)
                    return
                await send(message)
        except TemporaryFailure as failure:
            log.warning("email will be retried", extra=about | {"reply": str(failure)})
            await self._retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("email failed", extra=about | {"reply": str(failure)})
            await self.finish(row, "failed", str(failure))
            self._count(row, "failed")
        else:
            await self.finish(row, "sent", None)
            self._count(row, "sent")

    async def _retry_later(self, row, reply: str) -> None:
        attempts = row.attempts + 1
        if not await self.defer(row, attempts, self._retry.delay(attempts), reply):
            log.warning("a retry was not recorded: the lease was lost", extra={self.table.key: str(row.key)})
        self._count(row, "retried")

    def kind_of(self, row) -> str:
        """The email's kind, for the metrics and the trace (invite, resend, reminder, password)."""
        raise NotImplementedError

    def trace_of(self, row) -> dict[str, str]:
        """The trace the row's send joins: that of what caused the row, when it kept one."""
        return {}

    def _count(self, row, outcome: str) -> None:
        self._metrics.emails.labels(self.kind_of(row), outcome).inc()


class InviteMailWorker(MailWorker):
    """Sends the emails about invites: the invite, a resend, a reminder (the deliveries table)."""

    channel = "deliveries"
    table = repository.DELIVERIES
    not_sent = "cancelled"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        super().__init__(resources, mailer)
        self._emails = InviteEmails(resources.settings)

    async def before_fetching(self) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await use_cases.schedule_reminders(connection, self._clock())

    async def claim(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[Delivery]:
        return await repository.claim_deliveries(connection, limit, self._lease_time, self._leased_by, in_flight)

    def kind_of(self, delivery: Delivery) -> str:
        return delivery.kind

    def trace_of(self, delivery: Delivery) -> dict[str, str]:
        return delivery.trace_context

    def build(self, delivery: Delivery, headers: dict[str, str]) -> EmailMessage | Outgoing:
        email = InviteEmail(invite=delivery.invite, kind=delivery.kind, message_id=delivery.message_id)
        return self._emails.message(email, self._clock(), headers)

    async def record_outcomes(self, outcomes: list[MailOutcome]) -> None:
        await use_cases.delivery_outcomes(self._pool, outcomes)

    async def defer(self, delivery: Delivery, attempts: int, delay: timedelta, reply: str) -> bool:
        return await use_cases.delivery_deferred(self._pool, delivery, attempts, delay, reply, self._clock())


class PasswordMailWorker(MailWorker):
    """Sends the one-time password links (the password_mails table)."""

    channel = "password_mails"
    table = repository.PASSWORD_MAILS
    not_sent = "expired"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        # A link lasts an hour: after an outage it should go out within a minute of the mail server's return.
        retry = RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds, max_delay_seconds=60)
        super().__init__(resources, mailer, retry)

    async def claim(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[PasswordMail]:
        return await repository.claim_password_mails(connection, limit, self._lease_time, self._leased_by, in_flight)

    def kind_of(self, mail: PasswordMail) -> str:
        return "password"

    def build(self, mail: PasswordMail, headers: dict[str, str]) -> EmailMessage:
        email = PasswordEmail(
            request_id=mail.key,
            message_id=mail.message_id,
            name=mail.name,
            email=mail.email,
            expires_at=mail.expires_at,
        )
        return with_headers(build_password_message(email, self._settings, self._clock()), headers)


class ClaimReviewMailWorker(MailWorker):
    """Sends the emails about reviewed progress claims: approved, sent back to revise (the claim_review_mails
    table)."""

    channel = "claim_review_mails"
    table = repository.CLAIM_REVIEW_MAILS
    not_sent = "cancelled"

    async def claim(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[ClaimReviewMail]:
        return await repository.claim_claim_review_mails(
            connection, limit, self._lease_time, self._leased_by, in_flight
        )

    def kind_of(self, mail: ClaimReviewMail) -> str:
        return mail.kind

    def trace_of(self, mail: ClaimReviewMail) -> dict[str, str]:
        return mail.trace_context

    def build(self, mail: ClaimReviewMail, headers: dict[str, str]) -> EmailMessage:
        message = build_claim_review_message(
            mail.review, mail.line_notes(), mail.project_timezone, mail.message_id, self._settings, self._clock()
        )
        return with_headers(message, headers)


class PaymentScheduleReminderWorker(MailWorker):
    """Sends the reminders that a claim's payment schedule is due in two business days (rule 18c; the
    payment_schedule_reminder_mails table), scheduling them first as the invite worker schedules its reminders."""

    channel = "payment_schedule_reminder_mails"
    table = repository.PAYMENT_SCHEDULE_REMINDER_MAILS
    not_sent = "cancelled"

    async def before_fetching(self) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await use_cases.schedule_payment_schedule_reminders(connection, self._clock())

    async def claim(
        self, connection: asyncpg.Connection, limit: int, in_flight: list
    ) -> list[PaymentScheduleReminderMail]:
        return await repository.claim_payment_schedule_reminder_mails(
            connection, limit, self._lease_time, self._leased_by, in_flight
        )

    def kind_of(self, mail: PaymentScheduleReminderMail) -> str:
        return "payment_schedule_reminder"

    async def withdrawn(self, mail: PaymentScheduleReminderMail) -> bool:
        # A review stops the clock and cancels its reminders, leased ones too (`stop_payment_schedule_clock`).
        async with self._pool.acquire() as connection:
            return await repository.mail_status(connection, self.table, mail.key) != "pending"

    def build(self, mail: PaymentScheduleReminderMail, headers: dict[str, str]) -> EmailMessage:
        return with_headers(build_payment_schedule_reminder(mail, self._settings, self._clock()), headers)


def with_headers(message: EmailMessage, headers: dict[str, str]) -> EmailMessage:
    for header, value in headers.items():
        message[header] = value
    return message
