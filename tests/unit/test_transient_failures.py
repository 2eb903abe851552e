"""A handler whose database is briefly away (or busy) is retried until it succeeds, and shows when it retries too
long; an unknown error is retried a few times before its event goes to dead letters (TestKafkaBroker)."""

import contextlib
import errno
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker

from shared.contracts.erp import CommitmentUpserted
from shared.contracts.topics import ERP_COMMITMENTS, dead_letter_topic
from shared.messaging import Route, consume, create_broker, is_transient, retrying_messages
from shared.outbox import EventTooLarge
from shared.settings import Settings
from tests.factories import commitment, erp_event

SETTINGS = Settings(service_name="periods")


class FlakyPool:
    """Refuses the first `failures` connections, as PostgreSQL does while it restarts."""

    def __init__(self, failures: int):
        self.failures = failures
        self.attempts = 0

    @contextlib.asynccontextmanager
    async def acquire(self):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionRefusedError("PostgreSQL is restarting")
        yield FakeConnection()


class FakeConnection:
    @contextlib.asynccontextmanager
    async def transaction(self):
        yield

    async def fetchval(self, *_args):
        return True  # the inbox: first delivery


def consuming(handler, pool, settings=SETTINGS):
    """A broker whose commitments consumer calls `handler`, and the list its dead letters go to."""
    broker = create_broker(settings)
    consume(
        broker, lambda: pool, settings, ERP_COMMITMENTS, {CommitmentUpserted.TYPE: Route(CommitmentUpserted, handler)}
    )
    dead_letters = []

    @broker.subscriber(dead_letter_topic("periods"))
    async def collect(message: KafkaMessage) -> None:
        dead_letters.append(message)

    return broker, dead_letters


async def deliver(broker, event) -> None:
    async with TestKafkaBroker(broker) as test_broker:
        value, headers = event.to_structured()
        await test_broker.publish(value, topic=ERP_COMMITMENTS, key=b"SC-7", headers=headers)


async def test_a_transient_database_failure_is_retried_and_the_event_is_handled_once():
    pool = FlakyPool(failures=2)
    handled = []

    async def remember(connection, event, data: CommitmentUpserted) -> None:
        handled.append(data.commitment_id)

    broker, dead_letters = consuming(remember, pool)
    await deliver(broker, erp_event(commitment("SC-7")))

    assert pool.attempts == 3
    assert handled == ["SC-7"]
    assert dead_letters == []


def failing(times: int, error: Exception):
    """A handler that fails `times` times with `error`, then succeeds; `calls` counts every call."""

    async def handle(connection, event, data) -> None:
        handle.calls += 1
        if handle.calls <= times:
            raise error

    handle.calls = 0
    return handle


async def test_an_unknown_error_that_passes_is_retried_and_the_event_handled():
    handler = failing(2, ValueError("a bug that depends on timing"))
    broker, dead_letters = consuming(handler, FlakyPool(failures=0))
    await deliver(broker, erp_event(commitment("SC-7")))
    assert handler.calls == 3
    assert dead_letters == []


async def test_an_unknown_error_that_stays_goes_to_dead_letters_after_a_few_tries():
    handler = failing(100, ValueError("a bug"))
    broker, dead_letters = consuming(handler, FlakyPool(failures=0))
    await deliver(broker, erp_event(commitment("SC-7")))
    assert handler.calls == SETTINGS.consumer_attempts_on_unknown_errors == 4
    [dead] = dead_letters
    assert dead.headers["dlq-error"] == "ValueError: a bug"


async def test_a_refusal_such_as_an_event_too_large_to_publish_goes_to_dead_letters_at_once():
    handler = failing(100, EventTooLarge("This would publish an event of 300,000 bytes."))
    broker, dead_letters = consuming(handler, FlakyPool(failures=0))
    await deliver(broker, erp_event(commitment("SC-7")))
    assert handler.calls == 1
    [dead] = dead_letters
    assert dead.headers["dlq-error"].startswith("EventTooLarge: This would publish an event of 300,000 bytes.")


async def test_a_message_retried_longer_than_the_limit_is_logged_with_its_event_id_and_never_skipped(caplog):
    settings = Settings(service_name="periods", consumer_retrying_limit_seconds=0)
    handler = failing(3, asyncpg.LockNotAvailableError("canceling statement due to lock timeout"))
    broker, dead_letters = consuming(handler, FlakyPool(failures=0), settings)
    event = erp_event(commitment("SC-7"))
    with caplog.at_level(logging.WARNING, logger="shared.messaging"):
        await deliver(broker, event)
    assert handler.calls == 4, "retried until it passed, however long"
    assert dead_letters == []
    [stuck] = [record for record in caplog.records if "retried for longer than the limit" in record.getMessage()]
    assert (stuck.event_id, stuck.consumer) == (event.id, "periods.erp.commitments")
    assert retrying_messages(broker).longer_than(timedelta(0), datetime.now(UTC)) == [], "forgotten once handled"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError("refused"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.SerializationError("could not serialize access"), True),
        (asyncpg.DeadlockDetectedError("deadlock detected"), True),
        (asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"), True),
        (asyncpg.LockNotAvailableError("canceling statement due to lock timeout"), True),
        (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), True),
        (asyncpg.TooManyConnectionsError("sorry, too many clients already"), True),
        (asyncpg.ObjectInUseError("database is being accessed by other users"), True),
        (TimeoutError("pool acquire timed out"), True),
        # Seen when PostgreSQL restarts under a consumer's transaction (tests/faults).
        (asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"), True),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.UndefinedTableError("relation does not exist"), False),
        (ValueError("a bug"), False),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True),
        (PermissionError("only the claims service signs sessions"), False),
        (FileNotFoundError("no such file"), False),
    ],
)
def test_only_failures_that_retrying_can_fix_are_retried(error, transient):
    assert is_transient(error) is transient
