"""Reading and writing claims, and what a claim is read with: its period, its commitment, the previous claims."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from services.claims import money
from services.claims.domain import Role, role_for
from shared.contracts.base import Contact, Person
from shared.contracts.erp import INVITABLE_STATUSES, ScheduleOfValuesLine
from shared.erp import commitments_permission


@dataclass(frozen=True)
class Period:
    period_id: str
    project_id: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    closed: bool

    def due_date_has_passed(self, now: datetime) -> bool:
        return now >= self.due_at


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    project_id: str
    project_name: str
    company_name: str
    currency: str
    kind: str
    status: str
    number: str
    title: str
    vendor_name: str
    retention_percent: Decimal
    contacts: tuple[Contact, ...]
    lines: tuple[ScheduleOfValuesLine, ...]

    @property
    def billable(self) -> bool:
        return self.status in INVITABLE_STATUSES[self.kind]

    def contact(self, user_id: str) -> Contact | None:
        return next((contact for contact in self.contacts if contact.user_id == user_id), None)


@dataclass(frozen=True)
class ClaimRecord:
    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    created_by: Person
    on_behalf: bool
    status: str
    submitted_at: datetime | None
    # line id -> (work completed this period, materials presently stored)
    entered: dict[str, tuple[Decimal, Decimal]]


async def find_period(connection: asyncpg.Connection, period_id: str) -> Period | None:
    """The period, once its opening has reached this service."""
    row = await connection.fetchrow(
        "SELECT * FROM periods WHERE period_id = $1 AND start_date IS NOT NULL AND due_at IS NOT NULL",
        uuid.UUID(period_id),
    )
    if row is None:
        return None
    return Period(
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
        closed=row["closed"],
    )


async def find_commitment(connection: asyncpg.Connection, commitment_id: str) -> Commitment | None:
    row = await connection.fetchrow(
        """
        SELECT c.*, p.name AS project_name, p.company_name, p.currency
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
    )


async def role_on(connection: asyncpg.Connection, user_id: str, commitment: Commitment) -> Role | None:
    permission = await commitments_permission(connection, user_id, commitment.project_id)
    return role_for(permission, commitment.contact(user_id) is not None)


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
    )


@dataclass(frozen=True)
class PreviousClaims:
    """What the commitment's submitted claims of earlier periods carry into this one (rule 17)."""

    work: dict[str, Decimal]  # work completed per line, all of them together
    stored: dict[str, Decimal]  # materials presently stored per line, as the latest of them left it
    earned_less_retention: Decimal  # of the latest of them: "less previous claims"


# The commitment's submitted claims of periods that start before this one's ($1 commitment, $2 start date).
_EARLIER_CLAIMS = """
    claims c JOIN periods p USING (period_id)
    WHERE c.commitment_id = $1 AND p.start_date < $2 AND c.status IN ('under_review', 'approved')
"""


async def previous_claims(connection: asyncpg.Connection, commitment_id: str, before: date) -> PreviousClaims:
    work = await connection.fetch(
        f"""
        SELECT l.line_id, sum(l.this_period) AS work
        FROM claim_lines l WHERE l.claim_id IN (SELECT c.claim_id FROM {_EARLIER_CLAIMS})
        GROUP BY l.line_id
        """,
        commitment_id,
        before,
    )
    latest = await connection.fetchrow(
        f"SELECT c.claim_id, c.earned_less_retention FROM {_EARLIER_CLAIMS} ORDER BY p.start_date DESC LIMIT 1",
        commitment_id,
        before,
    )
    if latest is None:
        return PreviousClaims({}, {}, money.ZERO)
    stored = await connection.fetch(
        "SELECT line_id, materials_stored FROM claim_lines WHERE claim_id = $1", latest["claim_id"]
    )
    return PreviousClaims(
        work={row["line_id"]: row["work"] for row in work},
        stored={row["line_id"]: row["materials_stored"] for row in stored},
        earned_less_retention=latest["earned_less_retention"],
    )


async def line_inputs(
    connection: asyncpg.Connection,
    claim: ClaimRecord,
    commitment: Commitment,
    period: Period,
    entered: dict[str, tuple[Decimal, Decimal]] | None = None,
) -> tuple[list[money.LineInput], Decimal]:
    """The claim's lines as the money is worked out from them (with `entered` in place of what is saved).
    A claim nothing was entered on yet starts with the materials the previous claim left stored."""
    previous = await previous_claims(connection, commitment.commitment_id, period.start_date)
    if entered is None:
        entered = claim.entered or {line_id: (money.ZERO, stored) for line_id, stored in previous.stored.items()}
    lines = [
        money.LineInput(
            line_id=line.line_id,
            cost_code=line.cost_code,
            description=line.description,
            scheduled_value=line.scheduled_value,
            previous=previous.work.get(line.line_id, money.ZERO),
            this_period=entered.get(line.line_id, (money.ZERO, money.ZERO))[0],
            materials_stored=entered.get(line.line_id, (money.ZERO, money.ZERO))[1],
        )
        for line in commitment.lines
    ]
    return lines, previous.earned_less_retention


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


async def mark_submitted(connection: asyncpg.Connection, claim_id: str, worked_out: money.Claim, now: datetime) -> None:
    await connection.execute(
        """
        UPDATE claims SET status = 'under_review', submitted_at = $2, updated_at = $2, earned_less_retention = $3
        WHERE claim_id = $1
        """,
        uuid.UUID(claim_id),
        now,
        worked_out.total_earned_less_retention,
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


async def open_invites(connection: asyncpg.Connection, user_id: str, now: datetime) -> list[asyncpg.Record]:
    """The user's invites that can still be answered: period open, due date ahead, not accepted."""
    return await connection.fetch(
        """
        SELECT i.*, a.answer, p.start_date, p.end_date, p.due_date AS current_due_date
        FROM invites i JOIN periods p USING (period_id) LEFT JOIN invite_answers a USING (invite_id)
        WHERE i.contact_user_id = $1 AND NOT p.closed AND p.due_at > $2 AND a.answer IS DISTINCT FROM 'yes'
        ORDER BY p.due_at, i.commitment_number
        """,
        user_id,
        now,
    )
