"""The delivery worker: sends what the deliveries table holds, outside any transaction; records each outcome.

A delivery row exists before its send (written by the handlers), so a crash mid-send leaves it pending and
it is sent again after the restart with the same Message-ID. Each outcome, with its event, is one
transaction: sent (InviteSent or InviteReminderSent), retried later with backoff (4xx, connection lost),
failed (5xx: InviteDeliveryFailed), or cancelled (the due date passed or the period closed first, rule 7).
"""

import asyncio
import logging
from datetime import datetime, timedelta

import asyncpg

from services.notifier import handlers
from services.notifier.domain import RetryPolicy, may_send
from services.notifier.invite_email import InviteEmail, build_message
from services.notifier.mailer import PermanentFailure, SmtpMailer, TemporaryFailure
from shared import outbox
from shared.background import ListeningWorker
from shared.events import (
    BILLING_INVITES,
    Contact,
    InvitedCommitment,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteSent,
    Person,
)
from shared.service import ServiceResources

log = logging.getLogger(__name__)

_PENDING = """
    SELECT d.delivery_id, d.kind, d.message_id, d.attempts, i.*, p.project_id, p.project_name,
           p.project_timezone, p.start_date, p.end_date, p.due_date, p.due_at, p.status AS period_status,
           p.opened_by,
           EXISTS (SELECT 1 FROM claimed_commitments c
                   WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id) AS claimed
    FROM deliveries d JOIN invites i USING (invite_id) JOIN periods p USING (period_id)
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT d.delivery_id = ANY($2::bigint[])
    ORDER BY d.next_attempt_at, d.delivery_id
    LIMIT $1
"""


class DeliveryWorker(ListeningWorker):
    channel = "deliveries"
    lock_key = 0x17B0_0002

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        super().__init__(resources.settings.service_database_url())
        self._pool = resources.pool
        self._settings = resources.settings
        self._clock = resources.clock
        self._mailer = mailer
        self._retry = RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds)
        # Sends under way, by delivery id: never fetched again while in flight. A few per SMTP connection
        # wait their turn, so a slow send holds up only its own connection, and each finished one makes room.
        self._in_flight: dict[int, asyncio.Task] = {}
        self._most_in_flight = 4 * resources.settings.smtp_connections

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        async with self._pool.acquire() as reminders, reminders.transaction():
            await handlers.schedule_reminders(reminders, self._clock())
        room = self._most_in_flight - len(self._in_flight)
        if room > 0:
            for row in await connection.fetch(_PENDING, room, list(self._in_flight)):
                task = asyncio.create_task(self._deliver(row))
                self._in_flight[row["delivery_id"]] = task
                task.add_done_callback(lambda _, delivery=row["delivery_id"]: self._sent(delivery))
        # Backoff is wall-clock time (the database's), unlike due dates, which follow the service clock.
        return await connection.fetchval(
            """
            SELECT min(next_attempt_at) - now() FROM deliveries
            WHERE status = 'pending' AND next_attempt_at > now()
            """
        )

    def _sent(self, delivery_id: int) -> None:
        self._in_flight.pop(delivery_id, None)
        self.wake()

    async def stop(self, grace_seconds: float = 10) -> None:
        await super().stop(grace_seconds)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=grace_seconds)

    async def _deliver(self, row: asyncpg.Record) -> None:
        try:
            await self._attempt(row)
        except Exception:
            # The row stays pending and is tried again; nothing else waits for this one.
            log.exception("delivery attempt failed", extra={"delivery_id": row["delivery_id"]})

    async def _attempt(self, row: asyncpg.Record) -> None:
        if not may_send(row["due_at"], row["period_status"], self._clock()):
            await self._finish(row, "cancelled", "the due date passed or the period closed before sending")
            return
        if row["kind"] == "reminder" and (row["declined"] or row["claimed"]):
            await self._finish(row, "cancelled", "the contact declined or claimed before the reminder went")
            return
        try:
            message = build_message(_invite_email(row), self._settings, self._clock())
        except Exception as error:
            # A message that cannot be built never will be: fail it rather than block the others.
            log.exception("invite email could not be built", extra={"delivery_id": row["delivery_id"]})
            reply = f"the email could not be built: {error}"
            await self._finish(row, "failed", reply, _failed_event(row, reply, self._clock()))
            return
        try:
            await self._mailer.send(message)
        except TemporaryFailure as failure:
            log.warning("delivery will be retried", extra={"delivery_id": row["delivery_id"], "reply": str(failure)})
            await self._retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("delivery failed", extra={"delivery_id": row["delivery_id"], "reply": str(failure)})
            await self._finish(row, "failed", str(failure), _failed_event(row, str(failure), self._clock()))
        else:
            await self._finish(row, "sent", None, _sent_event(row, self._clock()))

    async def _retry_later(self, row: asyncpg.Record, reply: str) -> None:
        attempts = row["attempts"] + 1
        async with self._pool.acquire() as connection:
            await connection.execute(
                """
                UPDATE deliveries SET attempts = $2, next_attempt_at = now() + $3, last_reply = $4
                WHERE delivery_id = $1 AND status = 'pending'
                """,
                row["delivery_id"],
                attempts,
                self._retry.delay(attempts),
                reply,
            )

    async def _finish(self, row: asyncpg.Record, status: str, reply: str | None, event=None) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            updated = await connection.fetchval(
                """
                UPDATE deliveries SET status = $2, last_reply = $3, attempts = attempts + 1,
                    sent_at = CASE WHEN $2 = 'sent' THEN now() END
                WHERE delivery_id = $1 AND status = 'pending' RETURNING true
                """,
                row["delivery_id"],
                status,
                reply,
            )
            if updated and event is not None:
                await outbox.record(
                    connection,
                    service="notifier",
                    topic=BILLING_INVITES,
                    aggregate_type="invite",
                    aggregate_id=str(row["invite_id"]),
                    event=event,
                )


def _invite_email(row: asyncpg.Record) -> InviteEmail:
    invited_by = Person.model_validate(row["opened_by"])
    return InviteEmail(
        invite_id=str(row["invite_id"]),
        kind=row["kind"],
        message_id=row["message_id"],
        project_name=row["project_name"],
        project_timezone=row["project_timezone"],
        commitment_number=row["commitment_number"],
        commitment_title=row["commitment_title"],
        vendor_name=row["vendor_name"],
        contact_name=row["contact_name"],
        contact_email=row["contact_email"],
        invited_by_name=invited_by.name,
        invited_by_email=invited_by.email,
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
    )


def _contact(row: asyncpg.Record) -> Contact:
    return Contact(user_id=row["contact_user_id"], name=row["contact_name"], email=row["contact_email"])


def _sent_event(row: asyncpg.Record, now: datetime) -> InviteSent | InviteReminderSent:
    if row["kind"] == "reminder":
        return InviteReminderSent(
            invite_id=str(row["invite_id"]),
            period_id=str(row["period_id"]),
            project_id=row["project_id"],
            commitment_id=row["commitment_id"],
            contact=_contact(row),
            due_at=row["due_at"],
            sent_at=now,
        )
    return InviteSent(
        invite_id=str(row["invite_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        project_name=row["project_name"],
        project_timezone=row["project_timezone"],
        commitment=InvitedCommitment(
            commitment_id=row["commitment_id"],
            number=row["commitment_number"],
            title=row["commitment_title"],
            vendor_name=row["vendor_name"],
        ),
        contact=_contact(row),
        invited_by=Person.model_validate(row["opened_by"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
        sent_at=now,
        resent=row["kind"] == "resend",
    )


def _failed_event(row: asyncpg.Record, reply: str, now: datetime) -> InviteDeliveryFailed:
    return InviteDeliveryFailed(
        invite_id=str(row["invite_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        commitment_id=row["commitment_id"],
        contact=_contact(row),
        kind=row["kind"],
        reply=reply,
        failed_at=now,
    )
