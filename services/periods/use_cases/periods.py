"""What administrators do with billing periods: one transaction per use case, events via the outbox."""

from datetime import date, datetime

import asyncpg

from services.periods.domain.periods import BillingPeriod, open_period, resend_contacts, resend_names
from services.periods.domain.schedules import reminder_days_for
from services.periods.repository import periods as repository
from services.periods.repository import schedules as schedules_repository
from shared.contracts.base import Person
from shared.erp import require_permission
from shared.errors import NotFound


async def open_billing_period(
    pool: asyncpg.Pool,
    *,
    user_id: str,
    project_id: str,
    start_date: date,
    end_date: date,
    due_date: date,
    reminder_days_before_due: int | None,
    now: datetime,
) -> BillingPeriod:
    async with pool.acquire() as connection, connection.transaction():
        project = await repository.get_project(connection, project_id, lock=True)
        if project is None:
            raise _unknown_project(project_id)
        administrator = await require_permission(connection, user_id, project_id, "admin")
        existing = await repository.periods_of_project(connection, project_id, lock=True)
        # Without reminder days of its own, the period takes the project's (rule 9).
        project_default = await schedules_repository.project_reminder_days(connection, project_id)
        reminder_days = reminder_days_for(reminder_days_before_due, project_default)
        period = open_period(project, existing, start_date, end_date, due_date, administrator, now, reminder_days)
        for superseded in existing:
            if superseded.events:
                await repository.save(connection, superseded)
        await repository.save(connection, period)
        return period


async def list_billing_periods(pool: asyncpg.Pool, *, user_id: str, project_id: str) -> list[BillingPeriod]:
    async with pool.acquire() as connection:
        if await repository.get_project(connection, project_id) is None:
            raise _unknown_project(project_id)
        await require_permission(connection, user_id, project_id, "admin")
        return await repository.periods_of_project(connection, project_id)


async def get_billing_period(pool: asyncpg.Pool, *, user_id: str, period_id: str) -> BillingPeriod:
    async with pool.acquire() as connection:
        period = await _existing_period(connection, period_id)
        await require_permission(connection, user_id, period.project.id, "admin")
        return period


async def change_due_date(
    pool: asyncpg.Pool, *, user_id: str, period_id: str, due_date: date, now: datetime
) -> BillingPeriod:
    async with pool.acquire() as connection, connection.transaction():
        period = await _existing_period(connection, period_id, lock=True)
        administrator: Person = await require_permission(connection, user_id, period.project.id, "admin")
        period.change_due_date(due_date, administrator, now)
        await repository.save(connection, period)
        return period


async def resend_invites(
    pool: asyncpg.Pool,
    *,
    user_id: str,
    period_id: str,
    commitment_ids: list[str] | None,
    contact_user_ids: list[str] | None = None,
    only_not_answered: bool = False,
    now: datetime,
) -> BillingPeriod:
    """Ask the notifier to send the period's invites again, from this administrator (their Invited By):
    every invite, or those of the commitments and contacts named, or only those not answered yet."""
    names = resend_names(commitment_ids)
    contacts = resend_contacts(contact_user_ids)
    async with pool.acquire() as connection, connection.transaction():
        period = await _existing_period(connection, period_id, lock=True)
        administrator = await require_permission(connection, user_id, period.project.id, "admin")
        of_project = await repository.commitments_of_project(connection, period.project.id, names) if names else set()
        contacts_of_commitments = (
            await repository.contacts_of_commitments(connection, period.project.id, names, contacts)
            if contacts
            else set()
        )
        period.request_resend(
            administrator,
            now,
            names,
            of_project,
            contact_user_ids=contacts,
            only_not_answered=only_not_answered,
            contacts_of_commitments=contacts_of_commitments,
        )
        await repository.save(connection, period)
        return period


async def close_billing_period(pool: asyncpg.Pool, *, user_id: str, period_id: str, now: datetime) -> BillingPeriod:
    async with pool.acquire() as connection, connection.transaction():
        period = await _existing_period(connection, period_id, lock=True)
        administrator = await require_permission(connection, user_id, period.project.id, "admin")
        period.close(now, closed_by=administrator)
        await repository.save(connection, period)
        return period


async def _existing_period(connection: asyncpg.Connection, period_id: str, lock: bool = False) -> BillingPeriod:
    period = await repository.get_period(connection, period_id, lock=lock)
    if period is None:
        raise NotFound(f"There is no billing period with id {period_id}; check the link or list the project's periods.")
    return period


def _unknown_project(project_id: str) -> NotFound:
    return NotFound(
        f"There is no project {project_id}; projects arrive from the ERP with their commitments, "
        "so check the id or wait for the ERP to send the project."
    )
