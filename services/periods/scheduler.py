"""The scheduler: opens each project's scheduled period when it starts in the project's time zone (rule 4a).

It runs in one replica at a time (an advisory lock, as the outbox relay), woken when a schedule is set, changed,
paused or resumed (a trigger's NOTIFY), and otherwise when the next period is due to start, or at its safety
poll. The lock only saves work: each opening's transaction locks the project and records the opening under a
unique key (project, start), so that two schedulers, or one restarted mid-opening, never open a period twice.
"""

from datetime import timedelta

import asyncpg

from services.periods.use_cases.schedules import open_due_periods
from shared.background import ListeningWorker
from shared.service import ServiceResources

SAFETY_POLL = timedelta(minutes=1)  # also how late a period may open after a clock moved under a sleeping worker


class Scheduler(ListeningWorker):
    channel = "schedules"
    lock_key = 0x17B0_0003

    def __init__(self, resources: ServiceResources):
        super().__init__(resources.settings.service_database_url(), safety_poll_seconds=SAFETY_POLL.total_seconds())
        self._pool = resources.pool
        self._clock = resources.clock

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        now = self._clock()
        next_opening = await open_due_periods(self._pool, now)
        return None if next_opening is None else max(next_opening - now, timedelta(0))
