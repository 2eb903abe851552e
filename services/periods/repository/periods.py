"""Billing periods in the periods service's database; their events go to the outbox in one transaction."""

import uuid
from datetime import date

import asyncpg

from services.periods.domain.periods import BillingPeriod, Project
from shared import outbox
from shared.contracts.base import Person

_SELECT = """
    SELECT p.period_id, p.start_date, p.end_date, p.due_date, p.status, p.opened_by, p.opened_at,
           p.closed_at, p.reminder_days_before_due, j.project_id, j.name AS project_name, j.timezone
    FROM billing_periods p JOIN erp_projects j USING (project_id)
"""


async def get_project(connection: asyncpg.Connection, project_id: str, *, lock: bool = False) -> Project | None:
    # Locking the project row serialises changes to one project's periods (no two overlapping opens).
    row = await connection.fetchrow(
        "SELECT project_id, name, timezone FROM erp_projects WHERE project_id = $1" + (" FOR UPDATE" if lock else ""),
        project_id,
    )
    return Project(id=row["project_id"], name=row["name"], timezone=row["timezone"]) if row else None


async def periods_of_project(
    connection: asyncpg.Connection, project_id: str, *, lock: bool = False
) -> list[BillingPeriod]:
    rows = await connection.fetch(
        _SELECT + " WHERE p.project_id = $1 ORDER BY p.start_date DESC" + (" FOR UPDATE OF p" if lock else ""),
        project_id,
    )
    return [_period(row) for row in rows]


async def last_period_ends(connection: asyncpg.Connection, project_ids: list[str]) -> dict[str, date]:
    """The end of each project's last period (periods never overlap, rule 2); a project without any is left out."""
    rows = await connection.fetch(
        "SELECT project_id, max(end_date) AS end_date FROM billing_periods WHERE project_id = ANY($1::text[]) "
        "GROUP BY project_id",
        project_ids,
    )
    return {row["project_id"]: row["end_date"] for row in rows}


async def get_period(connection: asyncpg.Connection, period_id: str, *, lock: bool = False) -> BillingPeriod | None:
    try:
        key = uuid.UUID(period_id)
    except ValueError:
        return None
    row = await connection.fetchrow(_SELECT + " WHERE p.period_id = $1" + (" FOR UPDATE OF p" if lock else ""), key)
    return _period(row) if row else None


async def commitments_of_project(
    connection: asyncpg.Connection, project_id: str, commitment_ids: list[str]
) -> set[str]:
    """Which of `commitment_ids` are the project's commitments, as the ERP last sent them."""
    rows = await connection.fetch(
        "SELECT commitment_id FROM erp_commitments WHERE project_id = $1 AND commitment_id = ANY($2::text[])",
        project_id,
        commitment_ids,
    )
    return {row["commitment_id"] for row in rows}


async def contacts_of_commitments(
    connection: asyncpg.Connection, project_id: str, commitment_ids: list[str] | None, user_ids: list[str]
) -> set[str]:
    """Which of `user_ids` are progress claim contacts of the project's commitments (of only those named, when
    given), as the ERP last sent them."""
    rows = await connection.fetch(
        """
        SELECT DISTINCT contact->>'user_id' AS user_id
        FROM erp_commitments, jsonb_array_elements(invoice_contacts) AS contact
        WHERE project_id = $1 AND ($2::text[] IS NULL OR commitment_id = ANY($2::text[]))
          AND contact->>'user_id' = ANY($3::text[])
        """,
        project_id,
        commitment_ids,
        user_ids,
    )
    return {row["user_id"] for row in rows}


async def save(connection: asyncpg.Connection, period: BillingPeriod) -> None:
    """Insert or update the period and move the events it recorded to the outbox."""
    await connection.execute(
        """
        INSERT INTO billing_periods (period_id, project_id, start_date, end_date, due_date, due_at, status,
                                     opened_by, opened_at, closed_at, reminder_days_before_due)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (period_id) DO UPDATE SET due_date = excluded.due_date, due_at = excluded.due_at,
            status = excluded.status, closed_at = excluded.closed_at
        """,
        uuid.UUID(period.id),
        period.project.id,
        period.start_date,
        period.end_date,
        period.due_date,
        period.due_at,
        period.status,
        period.opened_by.model_dump(),
        period.opened_at,
        period.closed_at,
        period.reminder_days_before_due,
    )
    for event in period.events:
        await outbox.record(connection, event)
    period.events.clear()


def _period(row: asyncpg.Record) -> BillingPeriod:
    return BillingPeriod(
        id=str(row["period_id"]),
        project=Project(id=row["project_id"], name=row["project_name"], timezone=row["timezone"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        status=row["status"],
        opened_by=Person.model_validate(row["opened_by"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        reminder_days_before_due=row["reminder_days_before_due"],
    )
