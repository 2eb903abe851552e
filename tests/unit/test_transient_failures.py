"""A handler whose database is briefly away is retried until it succeeds; nothing goes to dead letters."""

import contextlib

import asyncpg
import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker

from shared.contracts.erp import CommitmentUpserted
from shared.contracts.topics import ERP_COMMITMENTS, dead_letter_topic
from shared.messaging import Route, consume, create_broker, is_transient
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


async def test_a_transient_database_failure_is_retried_and_the_event_is_handled_once():
    pool = FlakyPool(failures=2)
    handled, dead_letters = [], []

    async def remember(connection, event, data: CommitmentUpserted) -> None:
        handled.append(data.commitment_id)

    broker = create_broker(SETTINGS)
    consume(
        broker,
        lambda: pool,
        SETTINGS,
        ERP_COMMITMENTS,
        {CommitmentUpserted.TYPE: Route(CommitmentUpserted, remember)},
    )

    @broker.subscriber(dead_letter_topic("periods"))
    async def collect(message: KafkaMessage) -> None:
        dead_letters.append(message)

    async with TestKafkaBroker(broker) as test_broker:
        value, headers = erp_event(commitment("SC-7")).to_structured()
        await test_broker.publish(value, topic=ERP_COMMITMENTS, key=b"SC-7", headers=headers)

    assert pool.attempts == 3
    assert handled == ["SC-7"]
    assert dead_letters == []


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError("refused"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.SerializationError("could not serialize access"), True),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.UndefinedTableError("relation does not exist"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_failures_that_retrying_can_fix_are_retried(error, transient):
    assert is_transient(error) is transient
