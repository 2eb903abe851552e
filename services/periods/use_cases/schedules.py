"""A project's schedule and default reminder days, as its administrators set them, and the scheduler's openings
(rule 4a): one transaction each, events via the outbox."""

import logging
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.periods.domain import schedules as domain
from services.periods.domain.periods import BillingPeriod, Project, today_in
from services.periods.domain.schedules import Schedule, ScheduledPeriod, check_reminder_days, set_schedule
from services.periods.repository import periods as periods_repository
from services.periods.repository import schedules as repository
from shared.contracts.base import Person
from shared.erp import commitments_permission, find_person, holds, require_permission
from shared.errors import NotFound, ProblemForPerson

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectSchedule:
    """What the project's page and the API say about its schedule and reminders."""

    project: Project
    schedule: Schedule | None
    next_period: ScheduledPeriod | None  # the schedule's next, paused or not
    last_opened: date | None  # the start of the period the schedule last opened
    reminder_days_before_due: int | None  # the project's default

    @property
    def next_opens_at(self) -> datetime | None:
        return self.next_period.opens_at(self.project.timezone) if self.next_period else None


async def project_schedule(pool: asyncpg.Pool, *, user_id: str, project_id: str, now: datetime) -> ProjectSchedule:
    async with pool.acquire() as connection:
        project, _ = await _administered(connection, user_id, project_id)
        return await _project_schedule(connection, project, now)


async def change_schedule(
    pool: asyncpg.Pool,
    *,
    user_id: str,
    project_id: str,
    cadence: str,
    day_of_month: int | None,
    every_weeks: int | None,
    first_start: date | None,
    days_to_claim: int,
    reminder_days_before_due: int | None,
    now: datetime,
) -> ProjectSchedule:
    """Set or change the project's schedule, which resumes it; this administrator becomes Invited By for the
    periods it opens. A period that has started by now opens within moments (the scheduler is woken)."""
    async with pool.acquire() as connection, connection.transaction():
        project, administrator = await _administered(connection, user_id, project_id, lock=True)
        schedule = set_schedule(
            project,
            cadence=cadence,
            day_of_month=day_of_month,
            every_weeks=every_weeks,
            first_start=first_start,
            days_to_claim=days_to_claim,
            reminder_days_before_due=reminder_days_before_due,
            set_by=administrator,
            now=now,
        )
        await repository.save_schedule(connection, schedule)
        return await _project_schedule(connection, project, now)


async def pause_schedule(
    pool: asyncpg.Pool, *, user_id: str, project_id: str, paused: bool, now: datetime
) -> ProjectSchedule:
    """Pause the schedule (it opens nothing until resumed), or resume it: from its next period that starts today
    or later (none missed while paused)."""
    async with pool.acquire() as connection, connection.transaction():
        project, _ = await _administered(connection, user_id, project_id, lock=True)
        schedule = await repository.get_schedule(connection, project_id, lock=True)
        if schedule is None:
            raise NotFound(
                f"Project {project_id[:100]} has no schedule to {'pause' if paused else 'resume'}; set one first."
            )
        if paused:
            schedule.pause()
        else:
            schedule.resume(today_in(project.timezone, now))
        await repository.save_schedule(connection, schedule)
        return await _project_schedule(connection, project, now)


async def change_project_reminder_days(
    pool: asyncpg.Pool, *, user_id: str, project_id: str, reminder_days_before_due: int | None, now: datetime
) -> ProjectSchedule:
    """The project's default reminder days (rule 9), for the periods opened from now on without their own."""
    days = check_reminder_days(reminder_days_before_due)
    async with pool.acquire() as connection, connection.transaction():
        project, administrator = await _administered(connection, user_id, project_id, lock=True)
        await repository.save_project_reminder_days(connection, project_id, days, administrator, now)
        return await _project_schedule(connection, project, now)


async def open_due_periods(pool: asyncpg.Pool, now: datetime) -> datetime | None:
    """Open every active schedule's period that has started (rule 4a); when the next one starts, if any.

    Each opening is its own transaction (use case `open_scheduled_period`), so one project's trouble leaves the
    others' openings alone."""
    async with pool.acquire() as connection:
        schedules = await repository.active_schedules(connection)
        last_ends = await periods_repository.last_period_ends(connection, [s.project_id for s, _ in schedules])
    next_opening = None
    for schedule, timezone in schedules:
        upcoming = schedule.next_period(last_ends.get(schedule.project_id), today_in(timezone, now))
        opens_at = upcoming.opens_at(timezone)
        if now >= opens_at:
            try:
                await open_scheduled_period(pool, project_id=schedule.project_id, now=now)
            except ProblemForPerson as problem:
                # A rule refused it (no real schedule should meet one): tried again at the next round.
                log.warning(
                    "a scheduled period could not be opened",
                    extra={"project_id": schedule.project_id, "error": str(problem)},
                )
            continue  # its next one is counted on the next round, from the period just opened
        next_opening = opens_at if next_opening is None else min(next_opening, opens_at)
    return next_opening


async def open_scheduled_period(pool: asyncpg.Pool, *, project_id: str, now: datetime) -> BillingPeriod | None:
    """Open the project's scheduled period if it has started, exactly once (rule 4a); None when none is due.

    The project's row is locked, as an administrator's opening locks it, so a second scheduler waits and then sees
    the period opened; and the opening's row (one per project and start) refuses a second, whatever the locks."""
    async with pool.acquire() as connection, connection.transaction():
        project = await periods_repository.get_project(connection, project_id, lock=True)
        schedule = await repository.get_schedule(connection, project_id, lock=True)
        if project is None or schedule is None or schedule.paused:
            return None
        # Invited By is whoever set the schedule, as the ERP now knows them, while they administer the project
        # (rule 19); once they no longer do, the schedule pauses until another administrator saves it.
        setter = await find_person(connection, schedule.set_by.id)
        if setter is None or not holds(await commitments_permission(connection, setter.id, project_id), "admin"):
            schedule.pause(
                f"{schedule.set_by.name}, who set it, is no longer an administrator of the project; save the "
                "schedule to take it over."
            )
            await repository.save_schedule(connection, schedule)
            log.warning(
                "a schedule paused: whoever set it is no longer an administrator", extra={"project_id": project_id}
            )
            return None
        schedule.set_by = setter
        existing = await periods_repository.periods_of_project(connection, project_id, lock=True)
        reminder_days = await repository.project_reminder_days(connection, project_id)
        period = domain.open_scheduled_period(schedule, project, existing, now, reminder_days)
        if period is None:
            return None
        if not await repository.record_opening(connection, project_id, period.start_date, period.id, now):
            return None  # opened already by another scheduler; nothing of this transaction is written
        for superseded in existing:
            if superseded.events:
                await periods_repository.save(connection, superseded)
        await periods_repository.save(connection, period)
        log.info(
            "the schedule opened a billing period",
            extra={"project_id": project_id, "period_id": period.id, "start_date": period.start_date.isoformat()},
        )
        return period


async def _project_schedule(connection: asyncpg.Connection, project: Project, now: datetime) -> ProjectSchedule:
    schedule = await repository.get_schedule(connection, project.id)
    last_end = (await periods_repository.last_period_ends(connection, [project.id])).get(project.id)
    return ProjectSchedule(
        project=project,
        schedule=schedule,
        next_period=schedule.next_period(last_end, today_in(project.timezone, now)) if schedule else None,
        last_opened=await repository.last_opening(connection, project.id),
        reminder_days_before_due=await repository.project_reminder_days(connection, project.id),
    )


async def _administered(
    connection: asyncpg.Connection, user_id: str, project_id: str, *, lock: bool = False
) -> tuple[Project, Person]:
    project = await periods_repository.get_project(connection, project_id, lock=lock)
    if project is None:
        raise NotFound(
            f"There is no project {project_id[:100]}; projects arrive from the ERP with their commitments, so "
            "check the id or wait for the ERP to send the project."
        )
    return project, await require_permission(connection, user_id, project_id, "admin")
