"""The transactional outbox: events are written with the change that caused them, then relayed to Kafka.

`record` runs inside the caller's transaction. `OutboxRelay` publishes what was committed, in order, one
event at a time, marking each as published as soon as Kafka has acknowledged it; it is woken by
LISTEN/NOTIFY (a trigger on the outbox table) and only polls slowly as a safety net. Kafka key = aggregate id,
so one aggregate's events stay in order on one partition.

Stopping is graceful (the event in flight is published and marked first), so a restart publishes nothing
twice. Only a crash between Kafka's acknowledgement and the mark can repeat an event, with the same id,
which consumers' inboxes then ignore.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg

from shared.background import ListeningWorker
from shared.contracts.base import PublishedEvent
from shared.envelope import SOURCE_PREFIX, CloudEvent
from shared.logs import correlation_id_var

# (topic, key, value, headers, correlation id)
Publish = Callable[[str, bytes, bytes, dict[str, str], str], Awaitable[None]]


async def record(connection: asyncpg.Connection, event: PublishedEvent) -> CloudEvent:
    """Add `event` to the outbox in the caller's transaction, for its topic, keyed by its aggregate's id."""
    envelope = CloudEvent.new(
        event.TYPE,
        SOURCE_PREFIX + event.PUBLISHER,
        event.model_dump(mode="json"),
        subject=event.aggregate_id,
        correlationid=correlation_id_var.get(),
    )
    await connection.execute(
        """
        INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, envelope)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        uuid.UUID(envelope.id),
        event.TOPIC,
        event.AGGREGATE_TYPE,
        event.aggregate_id,
        envelope.type,
        envelope.model_dump(mode="json", exclude_none=True),
    )
    return envelope


class OutboxRelay(ListeningWorker):
    channel = "outbox"
    lock_key = 0x17B0_0001  # one relay per database publishes: two would interleave an aggregate's events

    def __init__(self, dsn: str, publish: Publish, batch_size: int = 100, safety_poll_seconds: float = 5.0):
        super().__init__(dsn, safety_poll_seconds)
        self._publish = publish
        self._batch_size = batch_size

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        pending = await connection.fetch(
            """
            SELECT position, topic, aggregate_id, envelope FROM outbox
            WHERE published_at IS NULL ORDER BY position LIMIT $1
            """,
            self._batch_size,
        )
        for row in pending:
            if self.stopping:
                return None
            envelope = CloudEvent.model_validate(row["envelope"])
            value, headers = envelope.to_structured()
            await self._publish(row["topic"], row["aggregate_id"].encode(), value, headers, envelope.correlation_id)
            await connection.execute("UPDATE outbox SET published_at = now() WHERE position = $1", row["position"])
        # A full batch means there may be more: go again at once.
        return timedelta(0) if len(pending) == self._batch_size else None
