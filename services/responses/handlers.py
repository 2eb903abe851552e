"""What the responses service keeps from events, and recording an answer (with its event, via the outbox)."""

import uuid
from datetime import datetime

import asyncpg

from services.responses.domain import InviteToAnswer, decide
from shared import outbox
from shared.envelope import CloudEvent
from shared.erp import commitments_permission, holds
from shared.events import (
    BILLING_RESPONSES,
    Contact,
    InviteAccepted,
    InviteDeclined,
    InviteSent,
    Person,
)


async def invite_sent(connection: asyncpg.Connection, event: CloudEvent, sent: InviteSent) -> None:
    # A resend or a duplicate says nothing new about the invite.
    await connection.execute(
        """
        INSERT INTO invites (invite_id, period_id, project_id, project_name, project_timezone, commitment_id,
                             commitment_number, commitment_title, vendor_name, contact, invited_by,
                             start_date, end_date, due_date, due_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (invite_id) DO NOTHING
        """,
        uuid.UUID(sent.invite_id),
        uuid.UUID(sent.period_id),
        sent.project_id,
        sent.project_name,
        sent.project_timezone,
        sent.commitment.commitment_id,
        sent.commitment.number,
        sent.commitment.title,
        sent.commitment.vendor_name,
        sent.contact.model_dump(),
        sent.invited_by.model_dump(),
        sent.start_date,
        sent.end_date,
        sent.due_date,
        sent.due_at,
    )


async def find_invite(connection: asyncpg.Connection, invite_id: str) -> InviteToAnswer | None:
    row = await connection.fetchrow(
        """
        SELECT i.*, a.answer, coalesce(p.due_date, i.due_date) AS current_due_date,
               coalesce(p.due_at, i.due_at) AS current_due_at,
               CASE WHEN p.closed THEN 'closed' ELSE 'open' END AS period_status
        FROM invites i LEFT JOIN periods p USING (period_id) LEFT JOIN answers a USING (invite_id)
        WHERE i.invite_id = $1
        """,
        uuid.UUID(invite_id),
    )
    if row is None:
        return None
    contact = Contact.model_validate(row["contact"])
    invited_by = Person.model_validate(row["invited_by"])
    return InviteToAnswer(
        invite_id=str(row["invite_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        project_name=row["project_name"],
        project_timezone=row["project_timezone"],
        commitment_id=row["commitment_id"],
        commitment_number=row["commitment_number"],
        commitment_title=row["commitment_title"],
        vendor_name=row["vendor_name"],
        contact_user_id=contact.user_id,
        contact_name=contact.name,
        contact_email=contact.email,
        invited_by_name=invited_by.name,
        invited_by_email=invited_by.email,
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["current_due_date"],
        due_at=row["current_due_at"],
        period_status=row["period_status"],
        answer=row["answer"],
    )


async def answer_invite(pool: asyncpg.Pool, invite_id: str, answer: str, now: datetime) -> InviteToAnswer | None:
    """Record the contact's answer and announce it; a repeated answer records and announces nothing.

    None when the invite, or the ERP records that say who may answer it, have not arrived here yet."""
    async with pool.acquire() as connection, connection.transaction():
        # The lock makes a double click or a second tab wait, then find the answer already given.
        await connection.execute("SELECT 1 FROM invites WHERE invite_id = $1 FOR UPDATE", uuid.UUID(invite_id))
        invite = await find_invite(connection, invite_id)
        if invite is None:
            return None
        membership_known = await connection.fetchval(
            "SELECT true FROM erp_project_members WHERE user_id = $1 AND project_id = $2",
            invite.contact_user_id,
            invite.project_id,
        )
        contacts = await connection.fetchval(
            "SELECT invoice_contacts FROM erp_commitments WHERE commitment_id = $1", invite.commitment_id
        )
        if not membership_known or contacts is None:
            return None
        may_answer = holds(
            await commitments_permission(connection, invite.contact_user_id, invite.project_id), "read_only"
        )
        designated = any(contact["user_id"] == invite.contact_user_id for contact in contacts)
        if not decide(invite, answer, now, may_answer, designated):
            return invite
        await connection.execute(
            """
            INSERT INTO answers (invite_id, answer, answered_at) VALUES ($1, $2, $3)
            ON CONFLICT (invite_id) DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at
            """,
            uuid.UUID(invite_id),
            answer,
            now,
        )
        event_type = InviteAccepted if answer == "yes" else InviteDeclined
        await outbox.record(
            connection,
            service="responses",
            topic=BILLING_RESPONSES,
            aggregate_type="invite",
            aggregate_id=invite_id,
            event=event_type(
                invite_id=invite_id,
                period_id=invite.period_id,
                project_id=invite.project_id,
                commitment_id=invite.commitment_id,
                contact=Contact(user_id=invite.contact_user_id, name=invite.contact_name, email=invite.contact_email),
                answer=answer,
                responded_at=now,
                due_at=invite.due_at,
            ),
        )
        return await find_invite(connection, invite_id)
