"""Scheduled billing periods (rule 4a) on the real PostgreSQL: each opens exactly once, with two schedulers racing
and across a restart, announced by one BillingPeriodOpened in the outbox."""

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime

from services.periods.scheduler import Scheduler
from services.periods.use_cases import schedules
from shared.clock import Clock
from shared.db import create_pool
from shared.erp import apply_commitment, apply_member_upserted
from shared.service import ServiceResources
from shared.settings import Settings
from tests.factories import commitment, erp_event, member

# 1 November 2026 in Sydney has just begun (UTC+11): the schedule's November period is due to open.
NOVEMBER_BEGUN = datetime(2026, 10, 31, 13, 0, 30, tzinfo=UTC)
DECEMBER_BEGUN = datetime(2026, 11, 30, 13, 0, 30, tzinfo=UTC)
BEFORE_NOVEMBER = datetime(2026, 10, 20, 3, 0, tzinfo=UTC)


def administrator(project: str, version: int = 1, permission: str = "admin"):
    return member(
        f"{project}-admin",
        version=version,
        project_id=project,
        permission=permission,
        name="Alex Admin",
        email="a@x.example",
    )


async def project_with_a_monthly_schedule(pool) -> str:
    """A project of its own in Sydney, its administrator, and a schedule from the 1st of each month set on 20
    October (so nothing has started yet)."""
    project = f"P-{uuid.uuid4().hex[:8]}"
    admin = administrator(project)
    async with pool.acquire() as connection:
        await apply_commitment(connection, commitment(f"{project}-SC-1", project_id=project))
        await apply_member_upserted(connection, admin, erp_event(admin))
    await schedules.change_schedule(
        pool,
        user_id=admin.user_id,
        project_id=project,
        cadence="monthly",
        day_of_month=1,
        every_weeks=None,
        first_start=None,
        days_to_claim=5,
        reminder_days_before_due=None,
        now=BEFORE_NOVEMBER,
    )
    return project


async def opened(pool, project: str) -> list[tuple[str, str]]:
    """The project's periods (start, status) and how many BillingPeriodOpened the outbox holds for them."""
    rows = await pool.fetch(
        "SELECT start_date, status FROM billing_periods WHERE project_id = $1 ORDER BY start_date", project
    )
    return [(row["start_date"].isoformat(), row["status"]) for row in rows]


async def opened_events(pool, project: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'billing.period.opened.v1' "
        "AND envelope->'data'->>'project_id' = $1",
        project,
    )


async def test_two_schedulers_racing_on_two_connections_open_the_period_once_and_announce_it_once(database_for):
    database = await database_for("periods")
    project = await project_with_a_monthly_schedule(database.pool)
    other_replica = await create_pool(database.url)
    try:
        assert await schedules.open_scheduled_period(database.pool, project_id=project, now=BEFORE_NOVEMBER) is None
        results = await asyncio.gather(
            *(
                schedules.open_scheduled_period(pool, project_id=project, now=NOVEMBER_BEGUN)
                for pool in (database.pool, other_replica) * 4
            )
        )
    finally:
        await other_replica.close()
    assert len([period for period in results if period is not None]) == 1
    assert await opened(database.pool, project) == [("2026-11-01", "open")]
    assert await opened_events(database.pool, project) == 1
    [opening] = await database.pool.fetch("SELECT * FROM scheduled_openings WHERE project_id = $1", project)
    assert opening["start_date"].isoformat() == "2026-11-01"


async def test_a_schedule_whose_setter_no_longer_administers_the_project_pauses_itself_saying_why(database_for):
    database = await database_for("periods")
    project = await project_with_a_monthly_schedule(database.pool)
    demoted = administrator(project, version=2, permission="read_only")
    async with database.pool.acquire() as connection:
        await apply_member_upserted(connection, demoted, erp_event(demoted))
    assert await schedules.open_scheduled_period(database.pool, project_id=project, now=NOVEMBER_BEGUN) is None
    assert await opened(database.pool, project) == []
    row = await database.pool.fetchrow(
        "SELECT paused, paused_because FROM project_schedules WHERE project_id = $1", project
    )
    assert row["paused"] is True
    assert row["paused_because"] == (
        "Alex Admin, who set it, is no longer an administrator of the project; save the schedule to take it over."
    )


class UnlockedScheduler(Scheduler):
    """A scheduler that ignores the one-replica lock: two of them race for every opening."""

    lock_key = None


async def test_two_scheduler_workers_and_a_restarted_one_open_each_period_once(database_for):
    database = await database_for("periods")
    project = await project_with_a_monthly_schedule(database.pool)
    settings = Settings(service_name="periods", database_url=database.url, database_name=database.url.rsplit("/")[-1])
    clock = Clock(NOVEMBER_BEGUN)
    resources = ServiceResources(settings, database.pool, clock, metrics=None)
    async with running(UnlockedScheduler(resources), UnlockedScheduler(resources), Scheduler(resources)):
        await until(lambda: opened(database.pool, project), [("2026-11-01", "open")])
    # Started again, a month on: it opens December, and November not a second time.
    clock.set(DECEMBER_BEGUN)
    async with running(Scheduler(resources), UnlockedScheduler(resources)):
        await until(lambda: opened(database.pool, project), [("2026-11-01", "closed"), ("2026-12-01", "open")])
    assert await opened_events(database.pool, project) == 2
    period = await database.pool.fetchrow(
        "SELECT opened_by, due_date FROM billing_periods WHERE project_id = $1 AND status = 'open'", project
    )
    assert period["opened_by"]["name"] == "Alex Admin"  # who set the schedule is Invited By
    assert period["due_date"].isoformat() == "2027-01-05"


@contextlib.asynccontextmanager
async def running(*workers):
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))


async def until(read, expected, within: float = 20) -> None:
    async with asyncio.timeout(within):
        while (found := await read()) != expected:
            await asyncio.sleep(0.05)
    assert found == expected
