"""How the notifier reacts to events: each handler runs in the consumer's transaction (inbox included)."""

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.notifier import repository
from services.notifier.domain import reminder_at, skip_reason
from shared import outbox
from shared.envelope import CloudEvent
from shared.erp import apply_commitment
from shared.events import (
    BILLING_INVITES,
    BillingPeriodClosed,
    BillingPeriodDueDateChanged,
    BillingPeriodOpened,
    CommitmentUpserted,
    InviteAccepted,
    InviteDeclined,
    InviteSkipped,
    InvitesResendRequested,
    PasswordLinkRequested,
    ProgressClaimCreated,
)

Clock = Callable[[], datetime]


async def period_opened(connection: asyncpg.Connection, event: CloudEvent, opened: BillingPeriodOpened) -> None:
    """Invite every contact of every invitable commitment of the project (rule 5)."""
    await _lock_project(connection, opened.project_id)
    if not await repository.store_period(connection, opened):
        return
    async for commitment in repository.commitments_of_project(connection, opened.project_id):
        await _invite_commitment(connection, opened.period_id, opened.project_id, commitment)


def commitment_changed(clock: Clock):
    """ERP commitments, stored by version; a newly invitable one, or a new contact, is invited (rule 8)."""

    async def handle(connection: asyncpg.Connection, event: CloudEvent, commitment: CommitmentUpserted) -> None:
        await _lock_project(connection, commitment.project.id)
        if not await apply_commitment(connection, commitment, event.time):
            return
        stored = await connection.fetchrow(
            "SELECT * FROM erp_commitments WHERE commitment_id = $1", commitment.commitment_id
        )
        # Someone taken off the commitment gets no more mail about it.
        await connection.execute(
            """
            UPDATE deliveries d SET status = 'cancelled', last_reply = 'no longer a contact of the commitment'
            FROM invites i
            WHERE d.invite_id = i.invite_id AND d.status = 'pending' AND i.commitment_id = $1
              AND NOT i.contact_user_id = ANY($2::text[])
            """,
            commitment.commitment_id,
            [contact.user_id for contact in commitment.invoice_contacts],
        )
        for period_id in await repository.open_periods_of_project(connection, commitment.project.id, clock()):
            await _invite_commitment(connection, period_id, commitment.project.id, stored)

    return handle


async def _lock_project(connection: asyncpg.Connection, project_id: str) -> None:
    """A period opening and a commitment arriving at once would each miss the other; one waits instead."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('project:' || $1))", project_id)


async def _invite_commitment(
    connection: asyncpg.Connection, period_id: str, project_id: str, commitment: asyncpg.Record
) -> None:
    reason = skip_reason(commitment["kind"], commitment["status"], len(commitment["invoice_contacts"]))
    if reason is None:
        await repository.add_invites(connection, period_id, commitment)
    elif await repository.has_invites(connection, period_id, commitment["commitment_id"]):
        return  # invited already this period: a later change of status takes nothing back
    elif await repository.record_skip(connection, period_id, commitment["commitment_id"], reason):
        await outbox.record(
            connection,
            service="notifier",
            topic=BILLING_INVITES,
            aggregate_type="billing_period",
            aggregate_id=period_id,
            event=InviteSkipped(
                period_id=period_id,
                project_id=project_id,
                commitment_id=commitment["commitment_id"],
                commitment_number=commitment["number"],
                reason=reason,
            ),
        )


async def due_date_changed(
    connection: asyncpg.Connection, event: CloudEvent, changed: BillingPeriodDueDateChanged
) -> None:
    await connection.execute(
        "UPDATE periods SET due_date = $2, due_at = $3 WHERE period_id = $1",
        uuid.UUID(changed.period_id),
        changed.due_date,
        changed.due_at,
    )


async def period_closed(connection: asyncpg.Connection, event: CloudEvent, closed: BillingPeriodClosed) -> None:
    await connection.execute("UPDATE periods SET status = 'closed' WHERE period_id = $1", uuid.UUID(closed.period_id))


async def resend_requested(connection: asyncpg.Connection, event: CloudEvent, request: InvitesResendRequested) -> None:
    """The same invites again, with the same links, marked as resent (rule 6)."""
    invites = await connection.fetch(
        """
        SELECT invite_id FROM invites
        WHERE period_id = $1 AND ($2::text[] IS NULL OR commitment_id = ANY($2::text[]))
        """,
        uuid.UUID(request.period_id),
        request.commitment_ids,
    )
    await repository.add_deliveries(connection, [row["invite_id"] for row in invites], "resend", event.id)


async def invite_declined(connection: asyncpg.Connection, event: CloudEvent, answer: InviteDeclined) -> None:
    await _set_declined(connection, answer.invite_id, True)


async def invite_accepted(connection: asyncpg.Connection, event: CloudEvent, answer: InviteAccepted) -> None:
    await _set_declined(connection, answer.invite_id, False)


async def _set_declined(connection: asyncpg.Connection, invite_id: str, declined: bool) -> None:
    await connection.execute("UPDATE invites SET declined = $2 WHERE invite_id = $1", uuid.UUID(invite_id), declined)


async def claim_created(connection: asyncpg.Connection, event: CloudEvent, claim: ProgressClaimCreated) -> None:
    await connection.execute(
        "INSERT INTO claimed_commitments (period_id, commitment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        uuid.UUID(claim.period_id),
        claim.commitment_id,
    )


async def schedule_reminders(connection: asyncpg.Connection, now: datetime) -> int:
    """Once per period, at its reminder time: a reminder to each contact who has neither declined nor
    claimed (rule 9). The flag on the period, set in the same transaction, makes it durable and single."""
    periods = await connection.fetch(
        """
        SELECT period_id, due_at, reminder_days_before_due, project_timezone FROM periods
        WHERE status = 'open' AND NOT reminders_scheduled AND reminder_days_before_due IS NOT NULL
          AND due_at > $1
        FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    scheduled = 0
    for period in periods:
        if now < reminder_at(period["due_at"], period["reminder_days_before_due"], period["project_timezone"]):
            continue
        invites = await connection.fetch(
            """
            SELECT i.invite_id FROM invites i
            WHERE i.period_id = $1 AND NOT i.declined
              AND NOT EXISTS (SELECT 1 FROM claimed_commitments c
                              WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id)
            """,
            period["period_id"],
        )
        scheduled += await repository.add_deliveries(connection, [row["invite_id"] for row in invites], "reminder")
        await connection.execute(
            "UPDATE periods SET reminders_scheduled = true WHERE period_id = $1", period["period_id"]
        )
    return scheduled


async def password_link_requested(
    connection: asyncpg.Connection, event: CloudEvent, request: PasswordLinkRequested
) -> None:
    """Only the row: the password mail worker sends it after this transaction commits (DESIGN.md section 3)."""
    await repository.add_password_mail(connection, request)
