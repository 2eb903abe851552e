"""Replaying the services' outboxes into a fresh embedded broker.

The embedded broker keeps its topics in memory only, so an event published but not yet consumed when it
stopped would be gone. Every event is still in the outbox of the service that recorded it: marking them all
unpublished before the services start makes each relay publish them again, in order, ahead of anything new.
Consumers of the fresh topics read them from the beginning, and their inboxes ignore what they handled
before. Never used with a real Kafka, which keeps its topics.
"""

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg

from shared import outbox
from shared.contracts.topics import SERVICES
from shared.settings import Settings


@dataclass
class Replay:
    """The events marked for replay: per service, the outbox positions to be published again."""

    positions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(len(positions) for positions in self.positions.values())


async def mark_outboxes_for_replay(database_url: str) -> Replay:
    """Mark every published event unpublished again (the outbox keeps every event it recorded); events the
    relay never published, or could not, are left as they are."""
    replay = Replay()
    settings = Settings(database_url=database_url)
    for service in SERVICES:
        connection = await asyncpg.connect(settings.service_database_url(service))
        try:
            replay.positions[service] = await outbox.mark_published_for_replay(connection)
        finally:
            await connection.close()
    return replay


async def events_left_to_replay(database_url: str, replay: Replay) -> int:
    """How many of the replayed events the relays have not published yet."""
    settings = Settings(database_url=database_url)
    left = 0
    for service, positions in replay.positions.items():
        if not positions:
            continue
        connection = await asyncpg.connect(settings.service_database_url(service))
        try:
            left += await outbox.unpublished_among(connection, positions)
        finally:
            await connection.close()
    return left


async def wait_until_replayed(database_url: str, replay: Replay, within_seconds: float) -> int:
    """Until the relays have published every replayed event, or `within_seconds` passed: how many are left.

    A relay that cannot publish (the broker refusing an event) would keep this waiting: hence the limit.
    """
    deadline = time.monotonic() + within_seconds
    while True:
        left = await events_left_to_replay(database_url, replay)
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(0.2)
