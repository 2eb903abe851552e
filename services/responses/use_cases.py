"""What a contact or an event asks of the responses service; each runs in one transaction.

An event's use case runs in the consumer's transaction (the inbox's row with it); a person's opens its own.
"""

from datetime import datetime

import asyncpg

from services.responses import repository
from services.responses.domain import InviteToAnswer, decide
from shared import outbox
from shared.contracts.invites import InviteSent
from shared.contracts.responses import DeclineReason, InviteAccepted, InviteDeclined
from shared.erp import commitments_permission, holds


async def invite_sent(connection: asyncpg.Connection, sent: InviteSent) -> None:
    await repository.add_invite(connection, sent)


async def show_invite(pool: asyncpg.Pool, invite_id: str) -> InviteToAnswer | None:
    """The invite behind a link; None while its InviteSent has not reached this service. Changes nothing."""
    async with pool.acquire() as connection:
        return await repository.find_invite(connection, invite_id)


async def answer_invite(
    pool: asyncpg.Pool, invite_id: str, answer: str, now: datetime, reason: DeclineReason | None = None
) -> InviteToAnswer | None:
    """Record the contact's answer and announce it; a repeated answer records and announces nothing.

    A No with a new reason (rule 18a) is announced again with it: the board keeps the newest decline.

    None when the invite, or the ERP records that say who may answer it, have not arrived here yet."""
    async with pool.acquire() as connection, connection.transaction():
        # The lock makes a double click or a second tab wait, then find the answer already given.
        current = await repository.find_invite(connection, invite_id, lock=True)
        if current is None:
            return None
        invite = current.invite
        contact = invite.contact
        designated = await repository.designated_contacts(connection, invite.commitment.commitment_id)
        if designated is None or not await repository.membership_known(connection, contact.user_id, invite.project_id):
            return None
        may_answer = holds(await commitments_permission(connection, contact.user_id, invite.project_id), "read_only")
        if not decide(current, answer, now, may_answer, contact.user_id in designated, reason):
            return current
        await repository.save_answer(connection, invite_id, answer, now, reason)
        fields = dict(
            invite_id=invite_id,
            period_id=invite.period_id,
            project_id=invite.project_id,
            commitment_id=invite.commitment.commitment_id,
            contact=contact,
            answer=answer,
            responded_at=now,
            due_at=invite.due_at,
        )
        if answer == "yes":
            event = InviteAccepted(**fields)
        else:
            event = InviteDeclined(**fields, reason=reason)
        await outbox.record(connection, event)
        return await repository.find_invite(connection, invite_id)
