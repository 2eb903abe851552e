"""The transactional outbox: events are written with the change that caused them, then relayed to Kafka.

`record` runs inside the caller's transaction. `OutboxRelay` publishes what was committed, in order, one
event at a time, marking each as published as soon as Kafka has acknowledged it; it is woken by
LISTEN/NOTIFY (a trigger on the outbox table) and only polls slowly as a safety net. Kafka key = aggregate id,
so one aggregate's events stay in order on one partition.

Stopping is graceful (the event in flight is published and marked first), so a restart publishes nothing
twice. Only a crash between Kafka's acknowledgement and the mark can repeat an event, with the same id,
which consumers' inboxes then ignore.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from shared.envelope import SOURCE_PREFIX, CloudEvent
from shared.events import Contract
from shared.logs import correlation_id_var

log = logging.getLogger(__name__)

# One relay per database publishes: two would interleave one aggregate's events.
_RELAY_LOCK_KEY = 0x17B0_0001

Publish = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[None]]


async def record(
    connection: asyncpg.Connection,
    *,
    service: str,
    topic: str,
    aggregate_type: str,
    aggregate_id: str,
    event: Contract,
) -> CloudEvent:
    """Add `event` to the outbox in the caller's transaction."""
    envelope = CloudEvent(
        id=str(uuid.uuid4()),
        source=SOURCE_PREFIX + service,
        type=event.TYPE,
        subject=aggregate_id,
        time=datetime.now(UTC),
        data=event.model_dump(mode="json"),
        correlationid=correlation_id_var.get() or None,
    )
    await connection.execute(
        """
        INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, envelope)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        uuid.UUID(envelope.id),
        topic,
        aggregate_type,
        aggregate_id,
        envelope.type,
        envelope.model_dump(mode="json", exclude_none=True),
    )
    return envelope


class OutboxRelay:
    def __init__(self, dsn: str, publish: Publish, batch_size: int = 100, safety_poll_seconds: float = 5.0):
        self._dsn = dsn
        self._publish = publish
        self._batch_size = batch_size
        self._safety_poll_seconds = safety_poll_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self, grace_seconds: float = 10) -> None:
        """Let the event in flight finish (published and marked), then stop."""
        self._stopping.set()
        self._wake.set()
        if self._task:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, grace_seconds)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._relay_while_leader()
            except (OSError, asyncpg.PostgresError) as error:
                log.warning(
                    "outbox relay lost its database connection, retrying", extra={"error": str(error)}
                )
                await self._pause(1.0)
            except Exception:
                log.exception("outbox relay failed, retrying")
                await self._pause(1.0)

    async def _relay_while_leader(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK_KEY):
                await self._pause(self._safety_poll_seconds)
                if self._stopping.is_set():
                    return
            await connection.add_listener("outbox", self._on_notify)
            while not self._stopping.is_set():
                self._wake.clear()
                published = await self._publish_pending(connection)
                if published < self._batch_size:
                    await self._pause(self._safety_poll_seconds)
        finally:
            await connection.close()

    async def _publish_pending(self, connection: asyncpg.Connection) -> int:
        pending = await connection.fetch(
            """
            SELECT position, topic, aggregate_id, envelope FROM outbox
            WHERE published_at IS NULL ORDER BY position LIMIT $1
            """,
            self._batch_size,
        )
        for count, row in enumerate(pending):
            if self._stopping.is_set():
                return count
            value, headers = CloudEvent.model_validate_json(row["envelope"]).to_structured()
            await self._publish(row["topic"], row["aggregate_id"].encode(), value, headers)
            await connection.execute(
                "UPDATE outbox SET published_at = now() WHERE position = $1", row["position"]
            )
        return len(pending)

    def _on_notify(self, *_args) -> None:
        self._wake.set()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
