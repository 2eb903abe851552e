"""Kafka wiring (FastStream): how every service consumes events and publishes its outbox.

A consumed message goes through the same steps in every service:
parse the CloudEvent (either Kafka mode) -> pick the handler for its type -> validate its data ->
in a database transaction, record it in the inbox and apply its effect -> commit the Kafka offset.
What one fetch brings is handled together: its events share one transaction and one offset commit, and an
event that fails is taken out of it and handled alone, as below (`handle_records`).
A message that cannot be parsed or validated, or whose handler fails for a reason retrying cannot fix, is
published to the service's dead-letter topic with the error and its original headers, and consumption goes
on. Transient failures (the database or network away, a failover, a lock or statement timeout) are retried with
backoff for as long as they last, holding the partition so nothing is skipped; one retried for longer than
CONSUMER_RETRYING_LIMIT_SECONDS is logged and named by /readyz (shared/health.py). Other errors are tried a
few times more, with backoff, before the event goes to the dead letters; a refusal (a `ProblemForPerson`,
such as an event too large to publish) would be the same on every try, so it goes there at once.
"""

import asyncio
import dataclasses
import errno
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

from shared.contracts.base import Contract
from shared.contracts.topics import ALL_TOPICS, dead_letter_topic
from shared.envelope import CloudEvent, MalformedEvent, describe_validation_error, from_kafka
from shared.errors import ProblemForPerson
from shared.inbox import first_deliveries, first_delivery
from shared.logs import correlation_id_var, event_id_var
from shared.metrics import ServiceMetrics, service_metrics
from shared.metrics import attach as attach_metrics
from shared.settings import Settings
from shared.tracing import event_span

log = logging.getLogger(__name__)

# SQLSTATE classes that retrying can fix: connection (08), rollback such as serialization or deadlock (40),
# insufficient resources (53), operator intervention (57: a restart or shutdown, `admin_shutdown`, a server
# not accepting connections yet, `cannot_connect_now`, a statement timeout, `query_canceled`).
_TRANSIENT_SQLSTATE_CLASSES = {"08", "40", "53", "57"}
# And single states: a failover's old primary, now a standby (`read_only_sql_transaction`), a lock timeout
# (`lock_not_available`), an object another session holds (`object_in_use`), the server's system or I/O error.
_TRANSIENT_SQLSTATES = {"25006", "55P03", "55006", "58000", "58030"}
# The network's errors; not other OSErrors, such as a file or permission missing, which no retry mends.
_NETWORK_ERRORS = ConnectionError | TimeoutError | socket.gaierror
_NETWORK_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ECONNREFUSED}


def is_transient(error: BaseException) -> bool:
    """Whether retrying can fix it: the database or the network away, or busy for a while."""
    # asyncpg's InternalClientError ("cannot switch to state …; another operation is in progress") is its
    # connection lost in the middle of an operation: seen when PostgreSQL restarts.
    if isinstance(error, _NETWORK_ERRORS | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    if type(error) is OSError and error.errno in _NETWORK_ERRNOS:  # raised as plain OSError by connect()
        return True
    if not isinstance(error, asyncpg.PostgresError):
        return False
    sqlstate = error.sqlstate or ""
    return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES


def is_refusal(error: BaseException) -> bool:
    """A rule said no (or the event cannot be read): every try would answer the same."""
    return isinstance(error, ProblemForPerson | MalformedEvent)


@dataclass
class RetryingMessage:
    consumer: str
    event_id: str
    since: datetime
    error: str
    failures: int = 0
    reported: bool = False  # the warning that it is stuck has been logged


class RetryingMessages:
    """The messages a service's consumers are retrying now, for /readyz; kept per broker, so per service."""

    def __init__(self) -> None:
        self._retrying: dict[tuple[str, str], RetryingMessage] = {}

    def failed(self, consumer: str, event_id: str, error: BaseException, now: datetime) -> RetryingMessage:
        message = self._retrying.setdefault((consumer, event_id), RetryingMessage(consumer, event_id, now, ""))
        message.error = f"{type(error).__name__}: {error}"[:500]
        message.failures += 1
        return message

    def done(self, consumer: str, event_id: str) -> None:
        self._retrying.pop((consumer, event_id), None)

    def longer_than(self, limit: timedelta, now: datetime) -> list[RetryingMessage]:
        return [message for message in self._retrying.values() if now - message.since > limit]


_retrying_of_broker: "weakref.WeakKeyDictionary[KafkaBroker, RetryingMessages]" = weakref.WeakKeyDictionary()


def retrying_messages(broker: KafkaBroker) -> RetryingMessages:
    return _retrying_of_broker.setdefault(broker, RetryingMessages())


Handler = Callable[[asyncpg.Connection, CloudEvent, Contract], Awaitable[None]]
# The same effect for several events of the route's type, in their order: one statement for them all.
ManyHandler = Callable[[asyncpg.Connection, list[tuple[CloudEvent, Contract]]], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    model: type[Contract]
    handler: Handler
    # Used for consecutive events of the type within a fetched batch, when given; `handler` for one alone.
    handle_many: ManyHandler | None = None


def create_broker(settings: Settings) -> KafkaBroker:
    """The service's broker, with its metrics (`shared.metrics.service_metrics(broker)`)."""
    metrics = ServiceMetrics(settings.service_name)
    # acks="all": an event the outbox marks as published is on every in-sync replica.
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"itb-{settings.service_name}",
        acks="all",
        logger=logging.getLogger(f"faststream.{settings.service_name}"),
        middlewares=[metrics.broker_middleware],
    )
    attach_metrics(broker, metrics)
    return broker


def outbox_publisher(broker: KafkaBroker):
    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str], correlation_id: str) -> None:
        # FastStream adds a correlation_id header of its own: make it the event's.
        await broker.publish(value, topic=topic, key=key, headers=headers, correlation_id=correlation_id)

    return publish


UNDECODABLE_HEADERS = "itb-undecodable-headers"
_EMPTY_FETCH_PAUSE_MS = 10


async def _tolerant_parser(
    records: tuple[ConsumerRecord, ...], parse: Callable[[tuple[ConsumerRecord, ...]], Awaitable[KafkaMessage]]
):
    """FastStream reads every header as UTF-8 before any handler runs, so one bad header would fail its batch
    again and again. Such headers are read with their bad bytes escaped instead, and named in a header of ours,
    so that the handler sends that message to the dead letters."""
    return await parse(tuple(_readable_headers(record) for record in records))


def _readable_headers(record: ConsumerRecord) -> ConsumerRecord:
    undecodable = [name for name, value in record.headers if value is None or not _is_utf8(value)]
    if not undecodable:
        return record
    readable = [(name, (value or b"").decode(errors="backslashreplace").encode()) for name, value in record.headers]
    return dataclasses.replace(record, headers=[*readable, (UNDECODABLE_HEADERS, ",".join(undecodable).encode())])


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


async def _raw_body(message: KafkaMessage) -> list[bytes]:
    # Decoding is ours (shared.envelope), so a malformed value reaches the handler and the dead letters.
    return message.body


def consume(
    broker: KafkaBroker,
    pool_of: Callable[[], asyncpg.Pool],
    settings: Settings,
    topic: str,
    routes: dict[str, Route],
) -> None:
    """Subscribe a consumer group of the service to `topic`, dispatching each event type to its route.

    One group per topic, so a rebalance on one topic never pauses another. `pool_of` gives the pool once
    the service has started (the subscriber is declared before that). Event types with no route are not
    ours to handle and are skipped. What one fetch brings is handled as a batch (`handle_records`), its offsets
    committed once all of it is handled.
    """
    consumer = f"{settings.service_name}.{topic}"  # its name in the inbox

    @broker.subscriber(
        topic,
        group_id=f"{settings.kafka_group_prefix or settings.service_name}.{topic}",
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        batch=True,
        max_records=settings.kafka_batch_max_records,
        # FastStream waits this long for fetched records and, finding none, pauses as long again: short, as what
        # arrives in the pause waits for its end.
        batch_timeout_ms=_EMPTY_FETCH_PAUSE_MS,
        parser=_tolerant_parser,
        decoder=_raw_body,
    )
    async def receive(message: KafkaMessage) -> None:
        records = zip(message.raw_message, message.batch_headers, strict=True)
        await handle_records(list(records), broker, pool_of(), settings, consumer, routes)


@dataclass(frozen=True)
class Delivery:
    """A consumed event, read and valid, with the route that handles it."""

    record: ConsumerRecord
    headers: dict[str, str]
    event: CloudEvent
    route: Route
    data: Contract


async def handle_records(
    records: list[tuple[ConsumerRecord, dict[str, str]]],
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    settings: Settings,
    consumer: str,
    routes: dict[str, Route],
) -> None:
    """Handle a fetched batch of records (with their headers), in order.

    The events are applied together, in one transaction (each still recorded in the inbox, so a redelivered one
    has no second effect): a transaction and an offset commit per event would cost more than the events. An
    event whose handler fails is taken out: the events before it are committed without it, it is retried alone
    as ever (or dead-lettered), and the ones after it follow. Malformed records go to the dead letters.
    """
    deliveries = []
    for record, headers in records:
        try:
            delivery = _read(record, headers, routes)
        except MalformedEvent as error:
            log.warning("malformed event sent to dead letters", extra={"error": str(error)})
            await send_to_dead_letters(broker, settings.service_name, record, headers, str(error))
            continue
        if delivery is not None:
            deliveries.append(delivery)
    handled = 0
    while handled < len(deliveries):
        rest = deliveries[handled:]
        handled += await _apply_together(pool, consumer, rest) if len(rest) > 1 else 0
        if handled < len(deliveries):
            await _apply_alone(deliveries[handled], broker, pool, settings, consumer)
            handled += 1


def _read(record: ConsumerRecord, headers: dict[str, str], routes: dict[str, Route]) -> Delivery | None:
    """The record's event and its valid data, or None when no route takes its type; MalformedEvent if unreadable."""
    event_id_var.set(None)
    correlation_id_var.set(None)
    if UNDECODABLE_HEADERS in headers:
        raise MalformedEvent(f"the headers {headers[UNDECODABLE_HEADERS]} are not UTF-8 text (or are null)")
    event = _in_context(from_kafka(record.value, headers))
    route = routes.get(event.type)
    if route is None:
        return None
    try:
        data = route.model.model_validate(event.data)
    except ValidationError as error:
        raise MalformedEvent(f"{event.type} data is invalid: {describe_validation_error(error)}") from error
    return Delivery(record, headers, event, route, data)


def _in_context(event: CloudEvent) -> CloudEvent:
    """Logs from here on name the event and its correlation id."""
    event_id_var.set(event.id)
    correlation_id_var.set(event.correlation_id)
    return event


class _FailedAt(Exception):
    def __init__(self, index: int):
        self.index = index


async def _apply_together(pool: asyncpg.Pool, consumer: str, deliveries: list[Delivery]) -> int:
    """Apply the events in one transaction; how many of them, from the first, were committed.

    When one fails, the transaction is rolled back and the events before it are applied again without it: a
    handler's effects are all in the database, so nothing of the rolled-back try remains. When the database
    itself fails, none is committed and the first event is left to be retried alone."""
    count = len(deliveries)
    while count > 0:
        try:
            async with pool.acquire() as connection, connection.transaction():
                events = [delivery.event for delivery in deliveries[:count]]
                first_time = await first_deliveries(connection, consumer, [(event.id, event.type) for event in events])
                for index, alike in _runs(deliveries[:count], first_time):
                    try:
                        await _apply_run(connection, alike)
                    except Exception as error:
                        raise _FailedAt(index) from error
            return count
        except _FailedAt as failed:
            count = failed.index
        except Exception:
            return 0
    return 0


def _runs(deliveries: list[Delivery], first_time: set[str]) -> Iterator[tuple[int, list[Delivery]]]:
    """The deliveries not handled before (each id once), as runs to apply together, each with the index of its
    first: consecutive events of a route that handles many at once, or one event."""
    run: list[Delivery] = []
    start = 0
    for index, delivery in enumerate(deliveries):
        if delivery.event.id not in first_time:
            continue  # handled before (or earlier in this batch)
        first_time.discard(delivery.event.id)
        if run and (delivery.route is not run[0].route or delivery.route.handle_many is None):
            yield start, run
            run = []
        if not run:
            start = index
        run.append(delivery)
    if run:
        yield start, run


async def _apply_run(connection: asyncpg.Connection, run: list[Delivery]) -> None:
    route = run[0].route
    if len(run) > 1 and route.handle_many is not None:
        _in_context(run[0].event)
        with event_span(f"handle {len(run)} × {run[0].event.type}", run[0].event.trace_context):
            await route.handle_many(connection, [(delivery.event, delivery.data) for delivery in run])
        return
    event = _in_context(run[0].event)
    with event_span(f"handle {event.type}", event.trace_context):
        await route.handler(connection, event, run[0].data)


async def _apply_alone(
    delivery: Delivery, broker: KafkaBroker, pool: asyncpg.Pool, settings: Settings, consumer: str
) -> None:
    """Apply one event in its own transaction, retried as its error allows; dead-lettered when it cannot be."""
    event = _in_context(delivery.event)
    try:
        with event_span(f"handle {event.type}", event.trace_context):
            await _apply_with_retries(
                pool, settings, retrying_messages(broker), consumer, event, delivery.route, delivery.data
            )
    except MalformedEvent as error:
        log.warning("malformed event sent to dead letters", extra={"error": str(error)})
        await send_to_dead_letters(broker, settings.service_name, delivery.record, delivery.headers, str(error))
    except Exception as error:
        log.exception("handler failed permanently; event sent to dead letters")
        await send_to_dead_letters(
            broker, settings.service_name, delivery.record, delivery.headers, f"{type(error).__name__}: {error}"
        )


async def _apply_with_retries(
    pool: asyncpg.Pool,
    settings: Settings,
    retrying: RetryingMessages,
    consumer: str,
    event: CloudEvent,
    route: Route,
    data: Contract,
) -> None:
    """Apply the event, retrying transient failures until they pass and unknown ones a few times."""
    limit = timedelta(seconds=settings.consumer_retrying_limit_seconds)

    def out_of_tries(state: RetryCallState) -> bool:
        error = state.outcome.exception()
        return not is_transient(error) and state.attempt_number >= settings.consumer_attempts_on_unknown_errors

    def before_retry(state: RetryCallState) -> None:
        error = state.outcome.exception()
        now = datetime.now(UTC)
        retried = retrying.failed(consumer, event.id, error, now)
        log.warning(
            "handler failed, retrying" if is_transient(error) else "handler failed for an unknown reason, retrying",
            extra={"error": retried.error, "attempt": state.attempt_number},
        )
        if now - retried.since > limit and not retried.reported:
            retried.reported = True
            log.warning(
                "a message has been retried for longer than the limit; its consumer holds its partition until it "
                "succeeds, so later messages there wait",
                extra={"consumer": consumer, "event_id": event.id, "retrying_since": retried.since.isoformat()},
            )

    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda error: not is_refusal(error)),
            stop=out_of_tries,
            wait=wait_exponential(multiplier=0.2, max=30),
            before_sleep=before_retry,
            reraise=True,
        ):
            with attempt:
                async with pool.acquire() as connection, connection.transaction():
                    if await first_delivery(connection, consumer, event.id, event.type):
                        await route.handler(connection, event, data)
    finally:
        retrying.done(consumer, event.id)


async def send_to_dead_letters(
    broker: KafkaBroker, service: str, record: ConsumerRecord, headers: dict[str, str], error: str
) -> None:
    headers = {
        **headers,
        "dlq-error": error[:2000],
        "dlq-consumer": service,
        "dlq-original-topic": record.topic,
        "dlq-original-partition": str(record.partition),
        "dlq-original-offset": str(record.offset),
    }
    try:
        await broker.publish(record.value or b"", topic=dead_letter_topic(service), key=record.key, headers=headers)
    except Exception:
        # Without the dead letter the batch must not be committed: pause, then let FastStream redeliver it (what
        # of it was handled is in the inbox, so it has no second effect).
        await asyncio.sleep(1)
        raise
    service_metrics(broker).dead_letters.labels(record.topic).inc()


async def create_topics(bootstrap_servers: str, partitions: int = 3, replication_factor: int = 1) -> None:
    """Create every topic the system uses, with several partitions; topics that exist are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, partitions, replication_factor) for name in ALL_TOPICS if name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            failed = [
                f"{topic} ({details[-1] or f'error {code}'})"
                for topic, code, *details in response.topic_errors
                if code not in (0, TopicAlreadyExistsError.errno)
            ]
            if failed:
                raise RuntimeError(f"Kafka refused to create the topics: {', '.join(failed)}.")
    finally:
        await admin.close()
