"""How the claims service reacts to events, each in the consumer's transaction (inbox included), and the one
way a claim comes to be (`create_claim`), whoever asks for it."""

import logging
import uuid
from datetime import datetime

import asyncpg

from shared import outbox
from shared.contracts.base import Contact, Person
from shared.contracts.claims import ClaimAttemptRejected, ProgressClaimCreated
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.envelope import CloudEvent
from shared.erp import apply_commitment

log = logging.getLogger(__name__)


async def create_claim(
    connection: asyncpg.Connection,
    *,
    period_id: str,
    project_id: str,
    commitment_id: str,
    contact: Contact,
    created_by: Person,
    cause: str,
    now: datetime,
) -> str | None:
    """A draft claim for the commitment and period, announced; None when there is one already (rule 14)."""
    claim_id = await connection.fetchval(
        """
        INSERT INTO claims (claim_id, period_id, project_id, commitment_id, contact, created_by, on_behalf,
                            created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
        ON CONFLICT (period_id, commitment_id) DO NOTHING
        RETURNING claim_id
        """,
        uuid.uuid4(),
        uuid.UUID(period_id),
        project_id,
        commitment_id,
        contact.model_dump(),
        created_by.model_dump(),
        created_by.id != contact.user_id,
        now,
    )
    if claim_id is None:
        return None
    log.info("progress claim created", extra={"claim_id": str(claim_id), "cause": cause})
    await outbox.record(
        connection,
        ProgressClaimCreated(
            claim_id=str(claim_id),
            period_id=period_id,
            project_id=project_id,
            commitment_id=commitment_id,
            contact=contact,
            created_by=created_by,
            on_behalf=created_by.id != contact.user_id,
            cause=cause,
            created_at=now,
        ),
    )
    return str(claim_id)


async def reject_attempt(
    connection: asyncpg.Connection,
    *,
    period_id: str,
    project_id: str,
    commitment_id: str,
    attempted_by: Person,
    attempt: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """Announce a contact's claim attempt after the due date (rule 15), once per kind of attempt: a refreshed
    page announces nothing new."""
    first = await connection.fetchval(
        """
        INSERT INTO refused_attempts (period_id, commitment_id, user_id, attempt) VALUES ($1, $2, $3, $4)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        uuid.UUID(period_id),
        commitment_id,
        attempted_by.id,
        attempt,
    )
    if not first:
        return
    log.info("claim attempt refused after the due date", extra={"commitment_id": commitment_id, "attempt": attempt})
    await outbox.record(
        connection,
        ClaimAttemptRejected(
            period_id=period_id,
            project_id=project_id,
            commitment_id=commitment_id,
            attempted_by=attempted_by,
            attempt=attempt,
            reason="due_date_passed",
            due_at=due_at,
            attempted_at=now,
        ),
    )


async def invite_sent(connection: asyncpg.Connection, event: CloudEvent, sent: InviteSent) -> None:
    await connection.execute(
        """
        INSERT INTO invites (invite_id, period_id, project_id, project_name, commitment_id, commitment_number,
                             commitment_title, contact_user_id, due_date)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (invite_id) DO NOTHING
        """,
        uuid.UUID(sent.invite_id),
        uuid.UUID(sent.period_id),
        sent.project_id,
        sent.project_name,
        sent.commitment.commitment_id,
        sent.commitment.number,
        sent.commitment.title,
        sent.contact.user_id,
        sent.due_date,
    )


async def invite_declined(connection: asyncpg.Connection, event: CloudEvent, answer: InviteDeclined) -> None:
    await _remember_answer(connection, answer.invite_id, "no")


async def invite_accepted(connection: asyncpg.Connection, event: CloudEvent, accepted: InviteAccepted) -> None:
    """A Yes before the due date makes the draft claim (rule 14); after it, the attempt is refused (rule 15)."""
    await _remember_answer(connection, accepted.invite_id, "yes")
    contact = accepted.contact
    if accepted.responded_at >= accepted.due_at:
        await reject_attempt(
            connection,
            period_id=accepted.period_id,
            project_id=accepted.project_id,
            commitment_id=accepted.commitment_id,
            attempted_by=Person(id=contact.user_id, name=contact.name, email=contact.email),
            attempt="invite_accepted",
            due_at=accepted.due_at,
            now=accepted.responded_at,
        )
        return
    await _lock_commitment(connection, accepted.commitment_id)
    known = await connection.fetchval(
        "SELECT true FROM erp_commitments WHERE commitment_id = $1", accepted.commitment_id
    )
    if known:
        await _claim_for_acceptance(connection, accepted)
    else:
        # The commitment's schedule of values has not reached us: the claim is made when it does.
        await connection.execute(
            """
            INSERT INTO waiting_acceptances (invite_id, commitment_id, acceptance) VALUES ($1, $2, $3)
            ON CONFLICT (invite_id) DO NOTHING
            """,
            uuid.UUID(accepted.invite_id),
            accepted.commitment_id,
            accepted.model_dump(mode="json"),
        )


async def commitment_upserted(connection: asyncpg.Connection, event: CloudEvent, commitment: CommitmentUpserted):
    """Store the commitment (by version), then make the claims of acceptances that were waiting for it."""
    await _lock_commitment(connection, commitment.commitment_id)
    await apply_commitment(connection, commitment, event.time)
    waiting = await connection.fetch(
        "DELETE FROM waiting_acceptances WHERE commitment_id = $1 RETURNING acceptance", commitment.commitment_id
    )
    for row in waiting:
        await _claim_for_acceptance(connection, InviteAccepted.model_validate(row["acceptance"]))


async def _lock_commitment(connection: asyncpg.Connection, commitment_id: str) -> None:
    """An acceptance and its commitment arriving at once would each miss the other; one waits instead."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('commitment:' || $1))", commitment_id)


async def _claim_for_acceptance(connection: asyncpg.Connection, accepted: InviteAccepted) -> None:
    contact = accepted.contact
    await create_claim(
        connection,
        period_id=accepted.period_id,
        project_id=accepted.project_id,
        commitment_id=accepted.commitment_id,
        contact=contact,
        created_by=Person(id=contact.user_id, name=contact.name, email=contact.email),
        cause="invite_accepted",
        now=accepted.responded_at,
    )


async def _remember_answer(connection: asyncpg.Connection, invite_id: str, answer: str) -> None:
    await connection.execute(
        """
        INSERT INTO invite_answers (invite_id, answer) VALUES ($1, $2)
        ON CONFLICT (invite_id) DO UPDATE SET answer = excluded.answer
        WHERE invite_answers.answer <> 'yes'  -- a Yes stands (rule 11)
        """,
        uuid.UUID(invite_id),
        answer,
    )
