"""What one fetch brings is applied in one transaction, and stays correct when one of its events fails: the events
before it are committed without it, it is retried alone (or dead-lettered), the ones after it follow, and none
has its effect twice (a fake database that keeps what was committed)."""

import contextlib
import dataclasses
import logging

import asyncpg
from aiokafka import ConsumerRecord

from shared.contracts.erp import CommitmentUpserted
from shared.contracts.topics import ERP_COMMITMENTS, dead_letter_topic
from shared.messaging import Route, create_broker, handle_records
from shared.settings import Settings
from tests.factories import commitment, erp_event

SETTINGS = Settings(service_name="periods")
CONSUMER = "periods.erp.commitments"


class Database:
    """Commits what a transaction did, or nothing of it; counts the transactions and fails on demand."""

    def __init__(self, unavailable_for: int = 0):
        self.inbox: set[str] = set()
        self.applied: list[str] = []  # commitment ids, in the order their effects were committed
        self.transactions = 0
        self.unavailable_for = unavailable_for  # the first this many connections are refused

    @contextlib.asynccontextmanager
    async def acquire(self):
        if self.unavailable_for:
            self.unavailable_for -= 1
            raise ConnectionRefusedError("PostgreSQL is restarting")
        yield Connection(self)


class Connection:
    def __init__(self, database: Database):
        self.database = database
        self.inbox: set[str] = set()
        self.applied: list[str] = []

    @contextlib.asynccontextmanager
    async def transaction(self):
        self.database.transactions += 1
        self.inbox, self.applied = set(), []
        yield
        self.database.inbox |= self.inbox
        self.database.applied += self.applied

    async def fetchval(self, _query, _consumer, event_id, _type):
        if event_id in self.database.inbox | self.inbox:
            return None
        self.inbox.add(event_id)
        return True

    async def fetch(self, _query, _consumer, event_ids, _types):
        fresh = [event_id for event_id in dict.fromkeys(event_ids) if event_id not in self.database.inbox]
        self.inbox |= set(fresh)
        return [{"event_id": event_id} for event_id in fresh]


def records(*events) -> list:
    fetched = []
    for offset, event in enumerate(events):
        value, headers = event.to_structured()
        record = ConsumerRecord(
            ERP_COMMITMENTS,
            0,
            offset,
            0,
            0,
            b"SC",
            value,
            None,
            len(value),
            -1,
            [(n, v.encode()) for n, v in headers.items()],
        )
        fetched.append((record, headers))
    return fetched


def handler_failing_for(commitment_ids: set[str], error: Exception, times: int = 1000):
    failures = {commitment_id: 0 for commitment_id in commitment_ids}

    async def apply(connection: Connection, event, data: CommitmentUpserted) -> None:
        if data.commitment_id in failures and failures[data.commitment_id] < times:
            failures[data.commitment_id] += 1
            raise error
        connection.applied.append(data.commitment_id)

    return apply


class Broker:
    """The service's broker, its dead letters kept instead of published."""

    def __init__(self):
        self.broker = create_broker(SETTINGS)
        self.dead_letters = []

        async def publish(value, *, topic, key, headers):
            self.dead_letters.append((topic, value, headers))

        self.broker.publish = publish


async def consume(database: Database, handler, *events, broker: Broker | None = None) -> Broker:
    broker = broker or Broker()
    routes = {CommitmentUpserted.TYPE: Route(CommitmentUpserted, handler)}
    await handle_records(records(*events), broker.broker, database, SETTINGS, CONSUMER, routes)
    return broker


def events(*commitment_ids: str):
    return [erp_event(commitment(commitment_id)) for commitment_id in commitment_ids]


async def test_a_fetched_batch_is_applied_in_one_transaction_each_event_once():
    database = Database()
    first, second, third = events("SC-1", "SC-2", "SC-3")
    await consume(database, handler_failing_for(set(), ValueError()), first, second, first, third)
    assert database.applied == ["SC-1", "SC-2", "SC-3"]
    assert database.transactions == 1
    assert database.inbox == {first.id, second.id, third.id}


async def test_events_already_in_the_inbox_have_no_second_effect():
    database = Database()
    batch = events("SC-1", "SC-2")
    await consume(database, handler_failing_for(set(), ValueError()), *batch)
    await consume(database, handler_failing_for(set(), ValueError()), *batch, *events("SC-3"))
    assert database.applied == ["SC-1", "SC-2", "SC-3"]


async def test_a_failing_event_is_taken_out_the_others_applied_once_in_order_and_it_goes_to_dead_letters(caplog):
    database = Database()
    with caplog.at_level(logging.CRITICAL):
        broker = await consume(
            database, handler_failing_for({"SC-2"}, ValueError("a bug")), *events("SC-1", "SC-2", "SC-3")
        )
    assert database.applied == ["SC-1", "SC-3"]
    [(topic, _value, headers)] = broker.dead_letters
    assert topic == dead_letter_topic("periods")
    assert headers["dlq-error"] == "ValueError: a bug"
    assert headers["dlq-original-offset"] == "1"


async def test_an_event_failing_for_a_while_is_retried_alone_and_applied_between_its_neighbours(caplog):
    database = Database()
    lock_timeout = asyncpg.LockNotAvailableError("canceling statement due to lock timeout")
    with caplog.at_level(logging.CRITICAL):
        broker = await consume(
            database, handler_failing_for({"SC-2"}, lock_timeout, times=3), *events("SC-1", "SC-2", "SC-3", "SC-4")
        )
    assert database.applied == ["SC-1", "SC-2", "SC-3", "SC-4"]
    assert broker.dead_letters == []


async def test_with_the_database_away_the_batch_waits_for_it_and_nothing_is_lost(caplog):
    database = Database(unavailable_for=3)
    with caplog.at_level(logging.CRITICAL):
        broker = await consume(database, handler_failing_for(set(), ValueError()), *events("SC-1", "SC-2", "SC-3"))
    assert database.applied == ["SC-1", "SC-2", "SC-3"]
    assert broker.dead_letters == []


async def test_a_malformed_record_goes_to_dead_letters_and_the_rest_of_its_batch_is_applied(caplog):
    database = Database()
    first, second = events("SC-1", "SC-2")
    fetched = records(first, second)
    malformed, _ = records(first)[0]
    fetched.insert(1, (dataclasses.replace(malformed, value=b"{oops", offset=7), {}))
    broker = Broker()
    routes = {CommitmentUpserted.TYPE: Route(CommitmentUpserted, handler_failing_for(set(), ValueError()))}
    with caplog.at_level(logging.CRITICAL):
        await handle_records(fetched, broker.broker, database, SETTINGS, CONSUMER, routes)
    assert database.applied == ["SC-1", "SC-2"]
    [(_topic, value, headers)] = broker.dead_letters
    assert value == b"{oops" and "not a valid CloudEvent" in headers["dlq-error"]
