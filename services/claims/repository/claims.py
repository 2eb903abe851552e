"""Reading and writing claims, and what a claim is read with: its period, its commitment, the previous claims;
the invites and answers heard of, and the refused attempts announced."""

import uuid
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from services.claims.domain import money
from services.claims.domain.claims import (
    ClaimRecord,
    Commitment,
    DesignatedCommitment,
    LateClaimRequest,
    Period,
    PreviousClaims,
    RevisionRequest,
)
from shared.contracts.base import Contact, Person
from shared.contracts.erp import INVITABLE_STATUSES, ScheduleOfValuesLine
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted

# --- Periods and commitments ---


async def find_period(connection: asyncpg.Connection, period_id: str) -> Period | None:
    """The period, once its opening has reached this service."""
    row = await connection.fetchrow(
        "SELECT * FROM periods WHERE period_id = $1 AND start_date IS NOT NULL AND due_at IS NOT NULL",
        uuid.UUID(period_id),
    )
    return None if row is None else _period(row)


def _period(row: asyncpg.Record) -> Period:
    return Period(
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
        closed=row["closed"],
        opened_by=Person.model_validate(row["opened_by"]) if row["opened_by"] else None,
    )


async def find_commitment(connection: asyncpg.Connection, commitment_id: str) -> Commitment | None:
    row = await connection.fetchrow(
        """
        SELECT c.*, p.name AS project_name, p.company_name, p.currency, p.timezone, p.region
        FROM erp_commitments c JOIN erp_projects p USING (project_id) WHERE c.commitment_id = $1
        """,
        commitment_id,
    )
    if row is None:
        return None
    return Commitment(
        commitment_id=row["commitment_id"],
        project_id=row["project_id"],
        project_name=row["project_name"],
        company_name=row["company_name"],
        currency=row["currency"],
        kind=row["kind"],
        status=row["status"],
        number=row["number"],
        title=row["title"],
        vendor_name=row["vendor_name"],
        retention_percent=row["retention_percent"],
        contacts=tuple(Contact.model_validate(contact) for contact in row["invoice_contacts"]),
        lines=tuple(ScheduleOfValuesLine.model_validate(line) for line in row["schedule_of_values"]),
        timezone=row["timezone"],
        region=row["region"],
    )


async def designated_commitments(connection: asyncpg.Connection, user_id: str) -> list[DesignatedCommitment]:
    """The commitments the user is a progress claim contact of, on projects where they hold Read Only (or more)
    on the Commitments tool (rule 19), each with its project's latest period and the claim of that period."""
    rows = await connection.fetch(
        """
        SELECT c.commitment_id, c.number, c.title, c.kind, c.status, r.name AS project_name,
               p.period_id, p.project_id, p.start_date, p.end_date, p.due_date, p.due_at, p.closed, p.opened_by,
               k.claim_id, k.status AS claim_status
        FROM erp_commitments c
        JOIN erp_projects r USING (project_id)
        JOIN erp_project_members m ON m.project_id = c.project_id AND m.user_id = $1 AND NOT m.removed
                                   AND m.commitments_permission <> 'none'
        LEFT JOIN LATERAL (
            SELECT * FROM periods WHERE project_id = c.project_id AND start_date IS NOT NULL AND due_at IS NOT NULL
            ORDER BY start_date DESC LIMIT 1
        ) p ON true
        LEFT JOIN claims k ON k.period_id = p.period_id AND k.commitment_id = c.commitment_id
        WHERE c.invoice_contacts @> jsonb_build_array(jsonb_build_object('user_id', $1::text))
        ORDER BY r.name, c.number
        """,
        user_id,
    )
    return [
        DesignatedCommitment(
            commitment_id=row["commitment_id"],
            number=row["number"],
            title=row["title"],
            project_name=row["project_name"],
            billable=row["status"] in INVITABLE_STATUSES.get(row["kind"], set()),
            period=_period(row) if row["period_id"] else None,
            claim_id=str(row["claim_id"]) if row["claim_id"] else None,
            claim_status=row["claim_status"],
        )
        for row in rows
    ]


async def commitment_known(connection: asyncpg.Connection, commitment_id: str) -> bool:
    return bool(await connection.fetchval("SELECT true FROM erp_commitments WHERE commitment_id = $1", commitment_id))


async def lock_commitment(connection: asyncpg.Connection, commitment_id: str) -> None:
    """An acceptance and its commitment arriving at once would each miss the other; one waits instead."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('commitment:' || $1))", commitment_id)


# --- Claims ---


async def add_claim(
    connection: asyncpg.Connection,
    *,
    period_id: str,
    project_id: str,
    commitment_id: str,
    contact: Contact,
    created_by: Person,
    on_behalf: bool,
    now: datetime,
) -> str | None:
    """A draft claim; None when the commitment has one for the period already (rule 14)."""
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
        on_behalf,
        now,
    )
    return None if claim_id is None else str(claim_id)


async def find_claim(connection: asyncpg.Connection, claim_id: str) -> ClaimRecord | None:
    return await _claim_where(connection, "claim_id = $1", uuid.UUID(claim_id))


async def find_claim_for(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> ClaimRecord | None:
    return await _claim_where(connection, "period_id = $1 AND commitment_id = $2", uuid.UUID(period_id), commitment_id)


async def _claim_where(connection: asyncpg.Connection, condition: str, *arguments) -> ClaimRecord | None:
    row = await connection.fetchrow(f"SELECT * FROM claims WHERE {condition}", *arguments)
    if row is None:
        return None
    lines = await connection.fetch("SELECT * FROM claim_lines WHERE claim_id = $1", row["claim_id"])
    return ClaimRecord(
        claim_id=str(row["claim_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        commitment_id=row["commitment_id"],
        contact=Contact.model_validate(row["contact"]),
        created_by=Person.model_validate(row["created_by"]),
        on_behalf=row["on_behalf"],
        status=row["status"],
        submitted_at=row["submitted_at"],
        entered={line["line_id"]: (line["this_period"], line["materials_stored"]) for line in lines},
        revision=row["revision"],
        resubmit_by=row["resubmit_by"],
        review_reason=row["review_reason"] or "",
        line_notes=dict(row["line_notes"] or {}),
        reviewed_by=Person.model_validate(row["reviewed_by"]) if row["reviewed_by"] else None,
        payment_schedule_due=row["payment_schedule_due"],
    )


# Of each of the commitment's claims of periods that start before this one ($1 commitment, $2 start date), the
# revision a later claim follows (rule 17, 18): the approved one when there is one, else the latest submitted.
_EARLIER_REVISIONS = """
    WITH followed AS (
        SELECT DISTINCT ON (r.claim_id) r.claim_id, r.revision, r.earned_less_retention, p.start_date
        FROM claim_revisions r JOIN claims c USING (claim_id) JOIN periods p ON p.period_id = c.period_id
        WHERE c.commitment_id = $1 AND p.start_date < $2
        ORDER BY r.claim_id, r.outcome IS NOT DISTINCT FROM 'approved' DESC, r.revision DESC
    )
"""


async def previous_claims(connection: asyncpg.Connection, commitment_id: str, before: date) -> PreviousClaims:
    work = await connection.fetch(
        f"""
        {_EARLIER_REVISIONS}
        SELECT l.line_id, sum(l.this_period) AS work
        FROM followed JOIN claim_revision_lines l USING (claim_id, revision)
        GROUP BY l.line_id
        """,
        commitment_id,
        before,
    )
    latest = await connection.fetchrow(
        f"{_EARLIER_REVISIONS} SELECT * FROM followed ORDER BY start_date DESC LIMIT 1", commitment_id, before
    )
    if latest is None:
        return PreviousClaims({}, {}, money.ZERO)
    stored = await connection.fetch(
        "SELECT line_id, materials_stored FROM claim_revision_lines WHERE claim_id = $1 AND revision = $2",
        latest["claim_id"],
        latest["revision"],
    )
    return PreviousClaims(
        work={row["line_id"]: row["work"] for row in work},
        stored={row["line_id"]: row["materials_stored"] for row in stored},
        earned_less_retention=latest["earned_less_retention"],
    )


async def save_lines(
    connection: asyncpg.Connection, claim_id: str, entered: dict[str, tuple[Decimal, Decimal]], now: datetime
) -> None:
    await connection.executemany(
        """
        INSERT INTO claim_lines (claim_id, line_id, this_period, materials_stored) VALUES ($1, $2, $3, $4)
        ON CONFLICT (claim_id, line_id) DO UPDATE SET
            this_period = excluded.this_period, materials_stored = excluded.materials_stored
        """,
        [(uuid.UUID(claim_id), line_id, this_period, stored) for line_id, (this_period, stored) in entered.items()],
    )
    await connection.execute("UPDATE claims SET updated_at = $2 WHERE claim_id = $1", uuid.UUID(claim_id), now)


async def lock_claim(connection: asyncpg.Connection, claim_id: str) -> None:
    """Two submissions of one claim at once: the second waits, then finds it submitted."""
    await connection.execute("SELECT 1 FROM claims WHERE claim_id = $1 FOR UPDATE", uuid.UUID(claim_id))


async def mark_submitted(
    connection: asyncpg.Connection,
    claim_id: str,
    worked_out: money.Claim,
    currency: str,
    submitted_by: Person,
    now: datetime,
) -> int:
    """The claim under review, and its submission kept as its next revision with its lines and totals (rule 18);
    the revision's number."""
    revision = await connection.fetchval(
        """
        UPDATE claims SET status = 'under_review', submitted_at = $2, updated_at = $2, earned_less_retention = $3,
                          revision = revision + 1
        WHERE claim_id = $1 RETURNING revision
        """,
        uuid.UUID(claim_id),
        now,
        worked_out.total_earned_less_retention,
    )
    await connection.execute(
        """
        INSERT INTO claim_revisions (claim_id, revision, submitted_at, submitted_by, totals, earned_less_retention)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        uuid.UUID(claim_id),
        revision,
        now,
        submitted_by.model_dump(),
        _totals(worked_out, currency),
        worked_out.total_earned_less_retention,
    )
    await connection.execute(
        """
        INSERT INTO claim_revision_lines (claim_id, revision, line_id, this_period, materials_stored)
        SELECT claim_id, $2, line_id, this_period, materials_stored FROM claim_lines WHERE claim_id = $1
        """,
        uuid.UUID(claim_id),
        revision,
    )
    return revision


def _totals(worked_out: money.Claim, currency: str) -> dict[str, str]:
    return {"currency": currency, **{name: str(value) for name, value in worked_out.totals().items()}}


async def mark_approved(
    connection: asyncpg.Connection,
    claim_id: str,
    revision: int,
    worked_out: money.Claim,
    currency: str,
    reviewed_by: Person,
    now: datetime,
) -> None:
    """The claim approved; its revision keeps the totals as approved (the previous claims they follow may have
    been approved since it was submitted)."""
    await connection.execute(
        """
        UPDATE claims SET status = 'approved', updated_at = $2, reviewed_by = $3, reviewed_at = $2,
                          earned_less_retention = $4, resubmit_by = NULL
        WHERE claim_id = $1
        """,
        uuid.UUID(claim_id),
        now,
        reviewed_by.model_dump(),
        worked_out.total_earned_less_retention,
    )
    await connection.execute(
        """
        UPDATE claim_revisions SET outcome = 'approved', reviewed_by = $3, reviewed_at = $4, totals = $5,
                                   earned_less_retention = $6
        WHERE claim_id = $1 AND revision = $2
        """,
        uuid.UUID(claim_id),
        revision,
        reviewed_by.model_dump(),
        now,
        _totals(worked_out, currency),
        worked_out.total_earned_less_retention,
    )


async def mark_sent_back(
    connection: asyncpg.Connection,
    claim_id: str,
    revision: int,
    request: RevisionRequest,
    reviewed_by: Person,
    now: datetime,
) -> None:
    """The claim sent back to its contact (rule 18), and its revision with the reason, notes and last day."""
    await connection.execute(
        """
        UPDATE claims SET status = 'revise_and_resubmit', updated_at = $2, reviewed_by = $3, reviewed_at = $2,
                          review_reason = $4, line_notes = $5, resubmit_by = $6
        WHERE claim_id = $1
        """,
        uuid.UUID(claim_id),
        now,
        reviewed_by.model_dump(),
        request.reason,
        request.line_notes,
        request.resubmit_by,
    )
    await connection.execute(
        """
        UPDATE claim_revisions SET outcome = 'revise_and_resubmit', reviewed_by = $3, reviewed_at = $4,
                                   reason = $5, line_notes = $6, resubmit_by = $7
        WHERE claim_id = $1 AND revision = $2
        """,
        uuid.UUID(claim_id),
        revision,
        reviewed_by.model_dump(),
        now,
        request.reason,
        request.line_notes,
        request.resubmit_by,
    )


async def claims_of_period(connection: asyncpg.Connection, period_id: str) -> list[ClaimRecord]:
    ids = await connection.fetch(
        "SELECT claim_id FROM claims WHERE period_id = $1 ORDER BY created_at", uuid.UUID(period_id)
    )
    return [await find_claim(connection, str(row["claim_id"])) for row in ids]


async def my_claims(connection: asyncpg.Connection, user_id: str) -> list[asyncpg.Record]:
    return await connection.fetch(
        """
        SELECT c.claim_id, c.status, c.on_behalf, p.start_date, p.end_date, e.number, e.title, r.name AS project_name
        FROM claims c
        LEFT JOIN periods p USING (period_id)
        LEFT JOIN erp_commitments e USING (commitment_id)
        LEFT JOIN erp_projects r ON r.project_id = c.project_id
        WHERE c.contact->>'user_id' = $1
        ORDER BY p.start_date DESC NULLS LAST, e.number
        """,
        user_id,
    )


async def add_refused_attempt(
    connection: asyncpg.Connection, period_id: str, commitment_id: str, user_id: str, attempt: str
) -> bool:
    """True the first time this kind of attempt is refused to the user."""
    return bool(
        await connection.fetchval(
            """
            INSERT INTO refused_attempts (period_id, commitment_id, user_id, attempt) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            uuid.UUID(period_id),
            commitment_id,
            user_id,
            attempt,
        )
    )


# --- Invites and their answers ---


async def add_invite(connection: asyncpg.Connection, sent: InviteSent) -> None:
    await connection.execute(
        """
        INSERT INTO invites AS current (invite_id, period_id, project_id, project_name, commitment_id,
                                        commitment_number, commitment_title, contact_user_id, due_date, invited_by,
                                        sent_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (invite_id) DO UPDATE SET invited_by = excluded.invited_by, sent_at = excluded.sent_at
        WHERE current.sent_at IS NULL OR current.sent_at < excluded.sent_at  -- who sent it last (a resend)
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
        sent.invited_by.model_dump(),
        sent.sent_at,
    )


async def inviter(connection: asyncpg.Connection, period_id: str, commitment_id: str, user_id: str) -> Person | None:
    """Who last sent the user the invite for the commitment and period; None without an invite."""
    invited_by = await connection.fetchval(
        """
        SELECT invited_by FROM invites WHERE period_id = $1 AND commitment_id = $2 AND contact_user_id = $3
        AND invited_by IS NOT NULL
        """,
        uuid.UUID(period_id),
        commitment_id,
        user_id,
    )
    return Person.model_validate(invited_by) if invited_by else None


async def invites_of(connection: asyncpg.Connection, user_id: str) -> list[asyncpg.Record]:
    """The user's invites of periods whose due date is known, the soonest due first, with their answers."""
    return await connection.fetch(
        """
        SELECT i.*, a.answer, p.start_date, p.end_date, p.due_date AS current_due_date, p.due_at, p.closed
        FROM invites i JOIN periods p USING (period_id) LEFT JOIN invite_answers a USING (invite_id)
        WHERE i.contact_user_id = $1 AND p.due_at IS NOT NULL
        ORDER BY p.due_at, i.commitment_number
        """,
        user_id,
    )


async def remember_answer(connection: asyncpg.Connection, invite_id: str, answer: str) -> None:
    await connection.execute(
        """
        INSERT INTO invite_answers (invite_id, answer) VALUES ($1, $2)
        ON CONFLICT (invite_id) DO UPDATE SET answer = excluded.answer
        WHERE invite_answers.answer <> 'yes'  -- a Yes stands (rule 11)
        """,
        uuid.UUID(invite_id),
        answer,
    )


async def wait_for_commitment(connection: asyncpg.Connection, accepted: InviteAccepted) -> None:
    await connection.execute(
        """
        INSERT INTO waiting_acceptances (invite_id, commitment_id, acceptance) VALUES ($1, $2, $3)
        ON CONFLICT (invite_id) DO NOTHING
        """,
        uuid.UUID(accepted.invite_id),
        accepted.commitment_id,
        accepted.model_dump(mode="json"),
    )


async def take_waiting_acceptances(connection: asyncpg.Connection, commitment_id: str) -> list[InviteAccepted]:
    """The acceptances that were waiting for the commitment, no longer waiting."""
    rows = await connection.fetch(
        "DELETE FROM waiting_acceptances WHERE commitment_id = $1 RETURNING acceptance", commitment_id
    )
    return [InviteAccepted.model_validate(row["acceptance"]) for row in rows]


async def set_payment_schedule_due(connection: asyncpg.Connection, claim_id: str, due: date | None) -> None:
    """Rule 18c: the payment schedule's due day of the claim's latest submission (None: no clock)."""
    await connection.execute(
        "UPDATE claims SET payment_schedule_due = $2 WHERE claim_id = $1", uuid.UUID(claim_id), due
    )


async def project_known(connection: asyncpg.Connection, project_id: str) -> bool:
    return bool(await connection.fetchval("SELECT true FROM erp_projects WHERE project_id = $1", project_id))


async def project_payment_schedule_days(connection: asyncpg.Connection, project_id: str) -> int | None:
    """The earlier number of business days the project set for payment schedules, if it set one (rule 18c)."""
    return await connection.fetchval("SELECT days FROM project_payment_schedule_days WHERE project_id = $1", project_id)


async def set_project_payment_schedule_days(
    connection: asyncpg.Connection, project_id: str, days: int, set_by: Person, now: datetime
) -> None:
    await connection.execute(
        """
        INSERT INTO project_payment_schedule_days (project_id, days, set_by, set_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (project_id) DO UPDATE SET days = excluded.days, set_by = excluded.set_by, set_at = excluded.set_at
        """,
        project_id,
        days,
        set_by.model_dump(mode="json"),
        now,
    )


# --- Requests to claim late (rule 18b) ---


async def add_late_request(connection: asyncpg.Connection, request: LateClaimRequest) -> bool:
    """The request, unless the contact has one open for the commitment and period already (False then)."""
    added = await connection.fetchval(
        """
        INSERT INTO late_claim_requests (request_id, period_id, project_id, commitment_id, contact_user_id, contact,
                                         asked, message, requested_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (period_id, commitment_id, contact_user_id) WHERE status = 'pending' DO NOTHING
        RETURNING true
        """,
        uuid.UUID(request.request_id),
        uuid.UUID(request.period_id),
        request.project_id,
        request.commitment_id,
        request.contact.user_id,
        request.contact.model_dump(mode="json"),
        request.asked.model_dump(mode="json"),
        request.message,
        request.requested_at,
    )
    return bool(added)


async def find_late_request(
    connection: asyncpg.Connection, request_id: str, for_update: bool = False
) -> LateClaimRequest | None:
    row = await connection.fetchrow(
        "SELECT * FROM late_claim_requests WHERE request_id = $1" + (" FOR UPDATE" if for_update else ""),
        uuid.UUID(request_id),
    )
    return None if row is None else _late_request(row)


async def latest_late_request(
    connection: asyncpg.Connection, period_id: str, commitment_id: str, user_id: str
) -> LateClaimRequest | None:
    """The contact's latest request to claim late for the commitment and period."""
    row = await connection.fetchrow(
        """
        SELECT * FROM late_claim_requests WHERE period_id = $1 AND commitment_id = $2 AND contact_user_id = $3
        ORDER BY position DESC LIMIT 1
        """,
        uuid.UUID(period_id),
        commitment_id,
        user_id,
    )
    return None if row is None else _late_request(row)


async def answer_late_request(
    connection: asyncpg.Connection,
    request_id: str,
    status: str,
    allowed_until: date | None,
    reason: str | None,
    answered_by: Person,
    now: datetime,
) -> None:
    await connection.execute(
        """
        UPDATE late_claim_requests SET status = $2, allowed_until = $3, reason = $4, answered_by = $5,
                                       answered_at = $6
        WHERE request_id = $1
        """,
        uuid.UUID(request_id),
        status,
        allowed_until,
        reason,
        answered_by.model_dump(mode="json"),
        now,
    )


def _late_request(row: asyncpg.Record) -> LateClaimRequest:
    return LateClaimRequest(
        request_id=str(row["request_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        commitment_id=row["commitment_id"],
        contact=Contact.model_validate(row["contact"]),
        asked=Person.model_validate(row["asked"]),
        message=row["message"],
        requested_at=row["requested_at"],
        status=row["status"],
        allowed_until=row["allowed_until"],
        reason=row["reason"],
        answered_by=Person.model_validate(row["answered_by"]) if row["answered_by"] else None,
        answered_at=row["answered_at"],
    )
