"""The delivery worker: sends what the deliveries table holds, outside any transaction; records each outcome.

A delivery row exists before its send (written by the handlers), so a crash mid-send leaves it pending and
it is sent again after the restart with the same Message-ID. Each outcome, with its event, is one
transaction: sent (InviteSent or InviteReminderSent), retried later with backoff (4xx, connection lost),
failed (5xx: InviteDeliveryFailed), or cancelled (the due date passed or the period closed first, rule 7).
"""

import logging
from datetime import datetime

import asyncpg

from services.notifier import handlers
from services.notifier.domain import RetryPolicy, may_send
from services.notifier.invite_email import InviteEmail, build_message
from services.notifier.mail_worker import MailWorker
from services.notifier.mailer import PermanentFailure, SmtpMailer, TemporaryFailure
from shared import outbox
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


class DeliveryWorker(MailWorker):
    channel = "deliveries"
    lock_key = 0x17B0_0002
    table = "deliveries"
    key = "delivery_id"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        super().__init__(
            resources, mailer, RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds)
        )

    async def before_fetching(self) -> None:
        async with self._pool.acquire() as reminders, reminders.transaction():
            await handlers.schedule_reminders(reminders, self._clock())

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[asyncpg.Record]:
        return await connection.fetch(_PENDING, limit, in_flight)

    async def attempt(self, row: asyncpg.Record) -> None:
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
            await self.retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("delivery failed", extra={"delivery_id": row["delivery_id"], "reply": str(failure)})
            await self._finish(row, "failed", str(failure), _failed_event(row, str(failure), self._clock()))
        else:
            await self._finish(row, "sent", None, _sent_event(row, self._clock()))

    async def _finish(self, row: asyncpg.Record, status: str, reply: str | None, event=None) -> None:
        """The outcome and its event, in one transaction."""
        async with self._pool.acquire() as connection, connection.transaction():
            if await self.mark(connection, row, status, reply) and event is not None:
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
