"""`itb outbox`: what each service's outbox has not published yet (how many, for how long, which failed), and
failed events put back in line.

An event Kafka refused for good (shared/outbox.py) waits, marked failed, with the reason; once the cause is
fixed (a topic's authorization, a broker's size limit), `itb outbox retry` puts it back, and the relay
publishes it and the events of its aggregate it held back, in their order.
"""

import argparse
import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

import asyncpg

from shared import outbox
from shared.contracts.topics import SERVICES

# A service's name -> a connection to its database (deploy/cli.py finds it as the service does).
ServiceDatabase = Callable[[str], AbstractAsyncContextManager[asyncpg.Connection]]


def add_outbox_command(commands, parents: list[argparse.ArgumentParser]) -> None:
    """Add `itb outbox [list]|retry` to `itb`'s commands."""
    command = commands.add_parser("outbox", help="see each service's unpublished events, and retry failed ones")
    command.set_defaults(service=None)  # `itb outbox` alone lists, for every service
    actions = command.add_subparsers(dest="outbox_command")
    listing = actions.add_parser(
        "list", parents=parents, help="per service: how many events wait, and the failed ones with the reason"
    )
    listing.add_argument("--service", choices=SERVICES, help="only this service (default: every one)")
    retry = actions.add_parser(
        "retry", parents=parents, help="put a failed event (or every one) back in line to be published"
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("event_id", nargs="?", help="the failed event's id, as `itb outbox list` shows it")
    which.add_argument("--all", action="store_true", help="every failed event")
    retry.add_argument("--service", choices=SERVICES, help="only this service's outbox (default: every one)")


def run_outbox_command(arguments: argparse.Namespace, database_of: ServiceDatabase) -> int:
    services = [arguments.service] if arguments.service else list(SERVICES)
    if arguments.outbox_command in (None, "list"):
        print(asyncio.run(_listing(services, database_of)))
        return 0
    event_id = None if arguments.all else arguments.event_id
    print(asyncio.run(_retry(services, database_of, event_id)))
    return 0


async def _listing(services: list[str], database_of: ServiceDatabase) -> str:
    lines = []
    for service in services:
        async with database_of(service) as connection:
            backlog = await outbox.backlog(connection)
            now = await connection.fetchval("SELECT now()")
        lines.append(f"{service}: {_summary(backlog, now)}")
        for failed in backlog.failed:
            lines.append(
                f"  failed {failed.failed_at:%Y-%m-%d %H:%M:%S%z}  {failed.event_id}  {failed.event_type}"
                f"  on {failed.topic}, key {failed.aggregate_id}"
            )
            lines.append(f"    {failed.failure}")
    return "\n".join(lines)


def _summary(backlog: outbox.Backlog, now: datetime) -> str:
    if not backlog.waiting and not backlog.failed:
        return "everything published"
    held = f" ({backlog.held} held behind a failed event of their aggregate)" if backlog.held else ""
    oldest = backlog.oldest_waiting_since
    age = f", the oldest for {_age(now - oldest)}" if backlog.waiting and oldest else ""
    return f"{backlog.waiting} waiting{held}{age}, {len(backlog.failed)} failed"


def _age(age: timedelta) -> str:
    seconds = max(int(age.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


async def _retry(services: list[str], database_of: ServiceDatabase, event_id: str | None) -> str:
    lines = []
    for service in services:
        async with database_of(service) as connection:
            retried = await outbox.retry_failed(connection, event_id)
        if retried:
            lines.append(f"{service}: {len(retried)} failed event(s) back in line: {', '.join(retried)}")
    if not lines:
        if event_id is None:
            return "No failed events: nothing to retry."
        raise RuntimeError(
            f"No failed event {event_id} in the outbox of {', '.join(services)}; "
            "`itb outbox list` shows the failed events and their ids."
        )
    return "\n".join(lines)
