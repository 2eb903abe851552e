"""All SQL of the responses service: the invites it heard of, the answers given, and who may give them."""

import uuid
from datetime import datetime

import asyncpg

from services.responses.domain import InviteToAnswer
from shared.contracts.base import Contact, Person
from shared.contracts.invites import Invite, InvitedCommitment, InviteSent
from shared.contracts.responses import DeclineReason


async def add_invite(connection: asyncpg.Connection, sent: InviteSent) -> None:
    """Keep the invite as it was first sent; a resend or a duplicate says nothing new about it."""
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


async def find_invite(connection: asyncpg.Connection, invite_id: str, *, lock: bool = False) -> InviteToAnswer | None:
    """The invite with the period's current due date and its answer; `lock` makes a second answer wait."""
    if lock:
        await connection.execute("SELECT 1 FROM invites WHERE invite_id = $1 FOR UPDATE", uuid.UUID(invite_id))
    row = await connection.fetchrow(
        """
        SELECT i.*, a.answer, a.decline_reason, coalesce(p.due_date, i.due_date) AS current_due_date,
               coalesce(p.due_at, i.due_at) AS current_due_at, coalesce(p.closed, false) AS period_closed
        FROM invites i LEFT JOIN periods p USING (period_id) LEFT JOIN answers a USING (invite_id)
        WHERE i.invite_id = $1
        """,
        uuid.UUID(invite_id),
    )
    if row is None:
        return None
    invite = Invite(
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
        contact=Contact.model_validate(row["contact"]),
        invited_by=Person.model_validate(row["invited_by"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["current_due_date"],
        due_at=row["current_due_at"],
    )
    reason = row["decline_reason"]
    return InviteToAnswer(
        invite=invite,
        period_closed=row["period_closed"],
        answer=row["answer"],
        decline_reason=DeclineReason.model_validate(reason) if reason is not None else None,
    )


async def designated_contacts(connection: asyncpg.Connection, commitment_id: str) -> set[str] | None:
    """The user ids of the commitment's progress claim contacts; None until the commitment has arrived."""
    contacts = await connection.fetchval(
        "SELECT invoice_contacts FROM erp_commitments WHERE commitment_id = $1", commitment_id
    )
    return None if contacts is None else {contact["user_id"] for contact in contacts}


async def membership_known(connection: asyncpg.Connection, user_id: str, project_id: str) -> bool:
    """Whether the ERP has told us of the user's membership of the project (removed or not)."""
    return bool(
        await connection.fetchval(
            "SELECT true FROM erp_project_members WHERE user_id = $1 AND project_id = $2", user_id, project_id
        )
    )


async def save_answer(
    connection: asyncpg.Connection, invite_id: str, answer: str, now: datetime, reason: DeclineReason | None = None
) -> None:
    """The answer as now given; a No given again without a reason keeps the one it had, and a Yes has none."""
    await connection.execute(
        """
        INSERT INTO answers (invite_id, answer, answered_at, decline_reason) VALUES ($1, $2, $3, $4)
        ON CONFLICT (invite_id) DO UPDATE SET
            answer = excluded.answer,
            answered_at = excluded.answered_at,
            decline_reason = CASE WHEN excluded.answer = 'yes' THEN NULL
                                  ELSE coalesce(excluded.decline_reason, answers.decline_reason) END
        """,
        uuid.UUID(invite_id),
        answer,
        now,
        reason.model_dump(exclude_none=True) if reason is not None else None,
    )
