"""Projects' schedules, what each opened, and projects' default reminder days, in the periods service's database."""

import uuid
from datetime import date, datetime

import asyncpg

from services.periods.domain.schedules import Schedule
from shared.contracts.base import Person


async def get_schedule(connection: asyncpg.Connection, project_id: str, *, lock: bool = False) -> Schedule | None:
    row = await connection.fetchrow(
        "SELECT * FROM project_schedules WHERE project_id = $1" + (" FOR UPDATE" if lock else ""), project_id
    )
    return _schedule(row) if row else None


async def active_schedules(connection: asyncpg.Connection) -> list[tuple[Schedule, str]]:
    """Every schedule not paused, with its project's time zone."""
    rows = await connection.fetch(
        """
        SELECT s.*, j.timezone FROM project_schedules s JOIN erp_projects j USING (project_id)
        WHERE NOT s.paused ORDER BY s.project_id
        """
    )
    return [(_schedule(row), row["timezone"]) for row in rows]


async def save_schedule(connection: asyncpg.Connection, schedule: Schedule) -> None:
    await connection.execute(
        """
        INSERT INTO project_schedules (project_id, cadence, day_of_month, every_weeks, first_start, days_to_claim,
                                       reminder_days_before_due, paused, paused_because, set_by, set_at, opens_from)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (project_id) DO UPDATE SET cadence = excluded.cadence, day_of_month = excluded.day_of_month,
            every_weeks = excluded.every_weeks, first_start = excluded.first_start,
            days_to_claim = excluded.days_to_claim, reminder_days_before_due = excluded.reminder_days_before_due,
            paused = excluded.paused, paused_because = excluded.paused_because, set_by = excluded.set_by,
            set_at = excluded.set_at, opens_from = excluded.opens_from
        """,
        schedule.project_id,
        schedule.cadence,
        schedule.day_of_month,
        schedule.every_weeks,
        schedule.first_start,
        schedule.days_to_claim,
        schedule.reminder_days_before_due,
        schedule.paused,
        schedule.paused_because,
        schedule.set_by.model_dump(),
        schedule.set_at,
        schedule.opens_from,
    )


async def record_opening(
    connection: asyncpg.Connection, project_id: str, start_date: date, period_id: str, now: datetime
) -> bool:
    """Record that the schedule opened the period starting on `start_date`; False when one was recorded already
    (another scheduler opened it first: its transaction must not open it again)."""
    return bool(
        await connection.fetchval(
            """
            INSERT INTO scheduled_openings (project_id, start_date, period_id, opened_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            project_id,
            start_date,
            uuid.UUID(period_id),
            now,
        )
    )


async def last_opening(connection: asyncpg.Connection, project_id: str) -> date | None:
    return await connection.fetchval("SELECT max(start_date) FROM scheduled_openings WHERE project_id = $1", project_id)


async def project_reminder_days(connection: asyncpg.Connection, project_id: str) -> int | None:
    return await connection.fetchval(
        "SELECT reminder_days_before_due FROM project_reminders WHERE project_id = $1", project_id
    )


async def save_project_reminder_days(
    connection: asyncpg.Connection, project_id: str, reminder_days_before_due: int | None, set_by: Person, now: datetime
) -> None:
    await connection.execute(
        """
        INSERT INTO project_reminders (project_id, reminder_days_before_due, set_by, set_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (project_id) DO UPDATE SET reminder_days_before_due = excluded.reminder_days_before_due,
            set_by = excluded.set_by, set_at = excluded.set_at
        """,
        project_id,
        reminder_days_before_due,
        set_by.model_dump(),
        now,
    )


def _schedule(row: asyncpg.Record) -> Schedule:
    return Schedule(
        project_id=row["project_id"],
        cadence=row["cadence"],
        day_of_month=row["day_of_month"],
        every_weeks=row["every_weeks"],
        first_start=row["first_start"],
        days_to_claim=row["days_to_claim"],
        reminder_days_before_due=row["reminder_days_before_due"],
        paused=row["paused"],
        paused_because=row["paused_because"],
        set_by=Person.model_validate(row["set_by"]),
        set_at=row["set_at"],
        opens_from=row["opens_from"],
    )
