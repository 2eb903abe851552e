"""A service's own view of billing periods, kept from `billing.periods` in its `periods` table (declared once,
in shared/migrations/period_view, for every service that keeps one).

Events may come in any order: `due_as_of` is the time of the event that set the due date, so an older one
arriving late changes nothing; the dates and names of an opening fill in whenever it arrives; a closure is
final.
"""

import uuid
from datetime import date, datetime

import asyncpg

from shared.contracts.periods import BillingPeriodClosed, BillingPeriodDueDateChanged, BillingPeriodOpened
from shared.contracts.topics import BILLING_PERIODS
from shared.envelope import CloudEvent
from shared.messaging import Route


async def period_opened(connection: asyncpg.Connection, opened: BillingPeriodOpened) -> None:
    await connection.execute(
        """
        INSERT INTO periods (period_id, project_id, project_name, project_timezone, start_date, end_date,
                             opened_by, reminder_days_before_due)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (period_id) DO UPDATE SET
            project_id = excluded.project_id, project_name = excluded.project_name,
            project_timezone = excluded.project_timezone, start_date = excluded.start_date,
            end_date = excluded.end_date, opened_by = excluded.opened_by,
            reminder_days_before_due = excluded.reminder_days_before_due
        """,
        uuid.UUID(opened.period_id),
        opened.project_id,
        opened.project_name,
        opened.project_timezone,
        opened.start_date,
        opened.end_date,
        opened.opened_by.model_dump(),
        opened.reminder_days_before_due,
    )
    await _due_date(connection, opened.period_id, opened.due_date, opened.due_at, opened.opened_at)


async def due_date_changed(connection: asyncpg.Connection, changed: BillingPeriodDueDateChanged) -> None:
    await _due_date(connection, changed.period_id, changed.due_date, changed.due_at, changed.changed_at)


async def period_closed(connection: asyncpg.Connection, closed: BillingPeriodClosed) -> None:
    await connection.execute(
        "INSERT INTO periods (period_id, closed) VALUES ($1, true) ON CONFLICT (period_id) DO UPDATE SET closed = true",
        uuid.UUID(closed.period_id),
    )


async def _due_date(connection, period_id: str, due_date: date, due_at: datetime, as_of: datetime) -> None:
    await connection.execute(
        """
        INSERT INTO periods AS current (period_id, due_date, due_at, due_as_of) VALUES ($1, $2, $3, $4)
        ON CONFLICT (period_id) DO UPDATE SET
            due_date = excluded.due_date, due_at = excluded.due_at, due_as_of = excluded.due_as_of
        WHERE current.due_as_of IS NULL OR current.due_as_of < excluded.due_as_of
        """,
        uuid.UUID(period_id),
        due_date,
        due_at,
        as_of,
    )


def period_routes() -> dict[str, dict[str, Route]]:
    """The `billing.periods` routes that keep the view, for `shared.messaging.consume`."""
    return {
        BILLING_PERIODS: {
            BillingPeriodOpened.TYPE: Route(BillingPeriodOpened, _from_event(period_opened)),
            BillingPeriodDueDateChanged.TYPE: Route(BillingPeriodDueDateChanged, _from_event(due_date_changed)),
            BillingPeriodClosed.TYPE: Route(BillingPeriodClosed, _from_event(period_closed)),
        }
    }


def _from_event(keep):
    async def handle(connection: asyncpg.Connection, event: CloudEvent, data) -> None:
        await keep(connection, data)

    return handle
