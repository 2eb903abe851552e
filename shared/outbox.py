"""The transactional outbox: events are written with the change that caused them, then relayed to Kafka.

`record` runs inside the caller's transaction, and refuses an event too large for Kafka to take, so that the
person (or event) asking for it hears why rather than the relay failing later. `OutboxRelay` publishes what
was committed, each aggregate's events in order (one is sent once the one before it is acknowledged, while
other aggregates' go at the same time), marking what Kafka has acknowledged as published after each batch;
it is woken by LISTEN/NOTIFY (a trigger on the outbox table) and only polls slowly as a safety net. Kafka key
= aggregate id, so one aggregate's events stay in order on one partition.

Stopping is graceful (the events in flight are published and marked first), so a restart publishes nothing
twice. Only a crash between Kafka's acknowledgement and the mark can repeat an event, with the same id,
which consumers' inboxes then ignore.

What Kafka refuses for good (too large, a topic that cannot exist, no authorization) is marked failed, with
the reason, and passed over so later events flow; what may pass (the broker away, a leader election) keeps
its row and is tried again with backoff. An operator lists and retries failed events (`itb outbox`,
deploy/operators/outbox.py); /readyz reports them (shared/health.py).
"""

import asyncio
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import errors as kafka
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from shared.background import ListeningWorker
from shared.contracts.base import PublishedEvent
from shared.envelope import SOURCE_PREFIX, CloudEvent
from shared.errors import ProblemForPerson
from shared.logs import correlation_id_var
from shared.settings import Settings
from shared.tracing import current_trace_context, event_span

log = logging.getLogger(__name__)

# (topic, key, value, headers, correlation id)
Publish = Callable[[str, bytes, bytes, dict[str, str], str], Awaitable[None]]


class EventTooLarge(ProblemForPerson):
    """A request (or an event handled) would publish an event larger than Kafka takes."""

    status_code = 413


class Unpublishable(Exception):
    """A row that no broker could take, whatever happens (its envelope unreadable, its topic name illegal)."""


@functools.cache
def event_limit_bytes() -> int:
    # Read once from the environment, where every service's settings come from (OUTBOX_EVENT_LIMIT_BYTES):
    # `record` is called deep in use cases, which hold no settings.
    return Settings().outbox_event_limit_bytes


async def record(connection: asyncpg.Connection, event: PublishedEvent) -> CloudEvent:
    """Add `event` to the outbox in the caller's transaction, for its topic, keyed by its aggregate's id."""
    prepared = entry(event)
    await record_entries(connection, [prepared])
    return prepared.envelope


@dataclass(frozen=True)
class OutboxEntry:
    """An event as `record` writes it, made ready where it happened (with that moment's trace and correlation id)
    to be written later together with others (`record_entries`)."""

    event: PublishedEvent
    envelope: CloudEvent


def entry(
    event: PublishedEvent, trace_context: dict[str, str] | None = None, correlation_id: str | None = None
) -> OutboxEntry:
    """`event` ready for the outbox, carrying `trace_context` and `correlation_id` (those of now, unless given);
    refused when too large, as `record` refuses it."""
    envelope = CloudEvent.new(
        event.TYPE,
        SOURCE_PREFIX + event.PUBLISHER,
        event.model_dump(mode="json"),
        subject=event.aggregate_id,
        correlationid=correlation_id_var.get() if correlation_id is None else correlation_id,
        **(current_trace_context() if trace_context is None else trace_context),
    )
    size = len(envelope.to_structured()[0])
    if size > event_limit_bytes():
        raise EventTooLarge(
            f"This would publish an event ({event.TYPE}) of {size:,} bytes, more than the {event_limit_bytes():,} "
            "bytes an event may hold; ask for less in one request (for example, fewer commitments at a time)."
        )
    return OutboxEntry(event, envelope)


async def record_entries(connection: asyncpg.Connection, entries: list[OutboxEntry]) -> None:
    """Add the entries to the outbox in the caller's transaction, in their order, in one round trip."""
    if not entries:
        return
    await connection.executemany(
        """
        INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, envelope)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        [
            (
                uuid.UUID(e.envelope.id),
                e.event.TOPIC,
                e.event.AGGREGATE_TYPE,
                e.event.aggregate_id,
                e.envelope.type,
                e.envelope.model_dump(mode="json", exclude_none=True),
            )
            for e in entries
        ],
    )


# Refusals no retry can change. Others, even those aiokafka calls not retriable (a request timeout, a broker
# not available), may pass; an unknown topic also may (it can be created meanwhile), so it waits too. aiokafka
# reports an illegal topic name as unknown after its request timeout, so those names are refused before.
_REFUSED_FOR_GOOD = (
    Unpublishable,
    kafka.MessageSizeTooLargeError,
    kafka.RecordTooLargeError,
    kafka.RecordListTooLargeError,
    kafka.InvalidTopicError,
    kafka.TopicAuthorizationFailedError,
    kafka.ClusterAuthorizationFailedError,
    kafka.PolicyViolationError,
    kafka.CorruptRecordException,
    kafka.InvalidMessageError,
    kafka.UnsupportedForMessageFormatError,
)
_KAFKA_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def refused_for_good(error: BaseException) -> bool:
    return isinstance(error, _REFUSED_FOR_GOOD)


@dataclass
class RelayHealth:
    """What the relay tells /readyz: since when it has been failing to publish (None: it is not), and why."""

    failing_since: datetime | None = None
    last_error: str | None = None
    refused: int = 0  # events marked failed since the service started

    def failing_for(self, now: datetime) -> timedelta:
        return now - self.failing_since if self.failing_since else timedelta(0)


class OutboxRelay(ListeningWorker):
    """Publishes the outbox in order; an event refused for good is marked failed and passed over.

    Later events of the same aggregate (same topic and key) are held behind a failed one, not passed over:
    consumers are promised one aggregate's events in order (a closure never before its opening, a submission
    never before its claim), and once `record` refuses oversized events, what is left to fail is configuration
    (a topic's authorization, a broker's size limit) that an operator fixes before retrying, after which the
    held events follow in order. Every other aggregate's events flow meanwhile.
    """

    channel = "outbox"
    lock_key = 0x17B0_0001  # one relay per database publishes: two would interleave an aggregate's events
    first_backoff = timedelta(seconds=1)
    longest_backoff = timedelta(seconds=30)

    def __init__(self, dsn: str, publish: Publish, batch_size: int = 500, safety_poll_seconds: float = 5.0):
        super().__init__(dsn, safety_poll_seconds)
        self._publish = publish
        self._batch_size = batch_size
        self._backoff = self.first_backoff
        self.health = RelayHealth()

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        waiting = await connection.fetch(
            """
            SELECT position, event_id, topic, aggregate_id, envelope FROM outbox AS waiting
            WHERE published_at IS NULL AND failed_at IS NULL
              AND NOT EXISTS (
                  SELECT 1 FROM outbox AS failed
                  WHERE failed.failed_at IS NOT NULL AND failed.topic = waiting.topic
                    AND failed.aggregate_id = waiting.aggregate_id AND failed.position < waiting.position)
            ORDER BY position LIMIT $1
            """,
            self._batch_size,
        )
        # Each aggregate's events are published one after another, each once the one before is acknowledged,
        # and the aggregates side by side: Kafka gets them together (in batches) and the order per key holds,
        # whatever fails.
        in_order: dict[tuple[str, str], list[asyncpg.Record]] = {}
        for row in waiting:
            in_order.setdefault((row["topic"], row["aggregate_id"]), []).append(row)
        published: list[int] = []
        refused: list[tuple[asyncpg.Record, Exception]] = []
        failing: list[tuple[asyncpg.Record, Exception]] = []

        async def publish_aggregate(rows: list[asyncpg.Record]) -> None:
            for row in rows:
                if self.stopping:
                    return
                try:
                    await self._publish_row(row)
                except Exception as error:
                    (refused if refused_for_good(error) else failing).append((row, error))
                    return  # the aggregate's later events wait behind this one
                published.append(row["position"])

        await asyncio.gather(*(publish_aggregate(rows) for rows in in_order.values()))
        if published:
            await connection.execute(
                "UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])", published
            )
        for row, error in sorted(refused, key=lambda failure: failure[0]["position"]):
            await self._mark_failed(connection, row, error)
        if failing:
            return self._failing(*min(failing, key=lambda failure: failure[0]["position"]))
        if published or not waiting:
            self._published()  # nothing waits, or publishing works again
        if self.stopping:
            return None
        # A full batch means there may be more: go again at once.
        return timedelta(0) if len(waiting) == self._batch_size else None

    async def _publish_row(self, row: asyncpg.Record) -> None:
        if not _KAFKA_TOPIC_NAME.fullmatch(row["topic"]) or row["topic"] in (".", ".."):
            raise Unpublishable(f"{row['topic']!r} is not a topic name Kafka accepts")
        try:
            envelope = CloudEvent.model_validate(row["envelope"])
        except ValidationError as error:
            raise Unpublishable(f"the stored envelope is not a CloudEvent: {error}") from error
        value, headers = envelope.to_structured()
        with event_span(f"publish {envelope.type}", envelope.trace_context, kind=SpanKind.PRODUCER):
            await self._publish(row["topic"], row["aggregate_id"].encode(), value, headers, envelope.correlation_id)

    async def _mark_failed(self, connection: asyncpg.Connection, row: asyncpg.Record, error: Exception) -> None:
        failure = _describe(error)
        await connection.execute(
            "UPDATE outbox SET failed_at = now(), failure = $2 WHERE position = $1", row["position"], failure
        )
        self.health.refused += 1
        log.error(
            "Kafka refused an event for good: marked failed and passed over; `itb outbox retry` retries it",
            extra={
                "event_id": str(row["event_id"]),
                "topic": row["topic"],
                "aggregate_id": row["aggregate_id"],
                "error": failure,
            },
        )

    def _failing(self, row: asyncpg.Record, error: Exception) -> timedelta:
        """Keep the row for another try, later each time, and remember since when publishing fails."""
        if self.health.failing_since is None:
            self.health.failing_since = datetime.now(UTC)
        self.health.last_error = _describe(error)
        retry_in, self._backoff = self._backoff, min(self._backoff * 2, self.longest_backoff)
        log.warning(
            "could not publish an event; it stays in the outbox and is tried again",
            extra={
                "event_id": str(row["event_id"]),
                "error": self.health.last_error,
                "retry_in_seconds": retry_in.total_seconds(),
            },
        )
        return retry_in

    def _published(self) -> None:
        self.health.failing_since = None
        self.health.last_error = None
        self._backoff = self.first_backoff


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


@dataclass(frozen=True)
class FailedEvent:
    event_id: str
    event_type: str
    topic: str
    aggregate_id: str
    created_at: datetime
    failed_at: datetime
    failure: str


@dataclass(frozen=True)
class Backlog:
    """The outbox's unpublished events: how many wait (`held` of them behind a failed one), and the failed."""

    waiting: int
    held: int
    failed: list[FailedEvent]
    oldest_waiting_since: datetime | None  # when the longest-waiting event was recorded


async def backlog(connection: asyncpg.Connection, most_failed: int = 100) -> Backlog:
    """For operators and /readyz: the failed events (oldest first, at most `most_failed`) and counts."""
    waiting, held, oldest = await connection.fetchrow(
        """
        SELECT count(*),
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM outbox AS failed
                   WHERE failed.failed_at IS NOT NULL AND failed.topic = waiting.topic
                     AND failed.aggregate_id = waiting.aggregate_id AND failed.position < waiting.position)),
               min(created_at)
        FROM outbox AS waiting WHERE published_at IS NULL AND failed_at IS NULL
        """
    )
    rows = await connection.fetch(
        """
        SELECT event_id, event_type, topic, aggregate_id, created_at, failed_at, failure FROM outbox
        WHERE failed_at IS NOT NULL ORDER BY position LIMIT $1
        """,
        most_failed,
    )
    failed = [FailedEvent(**{**dict(row), "event_id": str(row["event_id"])}) for row in rows]
    return Backlog(waiting, held, failed, oldest)


async def oldest_waiting_since(connection: asyncpg.Connection) -> datetime | None:
    """When the longest-waiting event the relay could publish now was recorded (not one held behind a failed
    event of its aggregate: that one waits for an operator, and the failed one is reported on its own)."""
    return await connection.fetchval(
        """
        SELECT min(created_at) FROM outbox AS waiting
        WHERE published_at IS NULL AND failed_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM outbox AS failed
            WHERE failed.failed_at IS NOT NULL AND failed.topic = waiting.topic
              AND failed.aggregate_id = waiting.aggregate_id AND failed.position < waiting.position)
        """
    )


async def waiting_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL")


async def failed_count(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL")


async def retry_failed(connection: asyncpg.Connection, event_id: str | None = None) -> list[str]:
    """Put a failed event (or, without an id, every failed event) back in line; the ids put back.

    The relay is woken at once and publishes them in their original order, with the events they held."""
    try:
        key = None if event_id is None else uuid.UUID(event_id)
    except ValueError:
        return []
    rows = await connection.fetch(
        """
        UPDATE outbox SET failed_at = NULL, failure = NULL
        WHERE failed_at IS NOT NULL AND ($1::uuid IS NULL OR event_id = $1)
        RETURNING event_id
        """,
        key,
    )
    if rows:
        await connection.execute("SELECT pg_notify('outbox', '')")
    return [str(row["event_id"]) for row in rows]


async def mark_published_for_replay(connection: asyncpg.Connection) -> list[int]:
    """Every event published so far made unpublished again, so that the relay publishes them anew, in order,
    ahead of anything new (into a broker that lost them: deploy/replay.py); their positions. Events never
    published, or refused for good, are left as they are."""
    return await connection.fetchval(
        """
        WITH replayed AS (UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL RETURNING position)
        SELECT coalesce(array_agg(position), '{}') FROM replayed
        """
    )


async def unpublished_among(connection: asyncpg.Connection, positions: list[int]) -> int:
    """How many of the events at `positions` the relay has not published (again) yet."""
    return await connection.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND position = ANY($1)", positions
    )
