"""A background worker woken by its database: LISTEN/NOTIFY says there is something to do, not a sleep loop.

It runs `work` when a NOTIFY on its channel arrives, and otherwise only after a slow safety poll, or sooner
when `work` says when it is next needed. A worker with a `lock_key` works in one replica at a time (it holds
that advisory lock while it works): the outbox relay, whose order is per aggregate. One without works in every
replica at once, and shares the work out by other means (the notifier's mail workers lease their rows).
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from shared.db import connect

log = logging.getLogger(__name__)


class ListeningWorker:
    channel: str
    lock_key: int | None = None

    def __init__(self, dsn: str, safety_poll_seconds: float = 30.0):
        self._dsn = dsn
        self._safety_poll_seconds = safety_poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        """Do what is pending; return how soon to run again, or None to wait for a notification."""
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_seconds: float = 10) -> None:
        """Let the work in hand finish, then stop."""
        self._stopping.set()
        self._wake.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, grace_seconds)

    async def _run(self) -> None:
        while not self.stopping:
            try:
                await self._work_while_connected()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning(f"{self.channel} worker lost its database, retrying", extra={"error": str(error)})
                await self._pause(1.0)
            except Exception:
                log.exception(f"{self.channel} worker failed, retrying")
                await self._pause(1.0)

    async def _work_while_connected(self) -> None:
        connection = await connect(self._dsn)
        try:
            if self.lock_key is not None and not await self._wait_for_lock(connection):
                return
            await connection.add_listener(self.channel, lambda *_: self._wake.set())
            while not self.stopping:
                self._wake.clear()
                again = await self.work(connection)
                wait = self._safety_poll_seconds if again is None else again.total_seconds()
                if wait > 0:
                    await self._pause(min(wait, self._safety_poll_seconds))
        finally:
            await connection.close()

    async def _wait_for_lock(self, connection: asyncpg.Connection) -> bool:
        """Until this replica holds the worker's lock (True), or the worker is stopping (False)."""
        while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
            # Another replica works, or a crashed one's session has not ended yet: ask again soon.
            await self._pause(min(self._safety_poll_seconds, 2.0))
            if self.stopping:
                return False
        return True

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
