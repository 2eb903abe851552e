"""The outbox publishes each event exactly once, across a relay restart; the inbox stops second effects."""

import asyncio
import json

from shared import outbox
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.periods import BillingPeriodClosed
from shared.contracts.topics import BILLING_PERIODS, ERP_COMMITMENTS
from shared.inbox import first_delivery
from shared.messaging import Route, create_broker, outbox_publisher
from shared.service import ServiceDefinition
from tests.factories import commitment, erp_event
from tests.support import publish_event, running_service, service_settings, topic_reader


def closed_event(period_id: str) -> BillingPeriodClosed:
    return BillingPeriodClosed(
        period_id=period_id,
        project_id="P-OUTBOX",
        closed_at="2026-11-20T00:00:00Z",
        reason="closed_by_administrator",
    )


async def test_each_event_is_published_exactly_once_when_the_relay_is_restarted_mid_batch(infrastructure, database_for):
    database = await database_for("periods")
    pool = database.pool
    broker = create_broker(service_settings(infrastructure, "periods", database.url))
    await broker.connect()
    try:
        aggregates = [f"period-{number}" for number in range(3)]
        async with pool.acquire() as connection, connection.transaction():
            recorded = [await outbox.record(connection, closed_event(aggregates[number % 3])) for number in range(20)]

        publish = outbox_publisher(broker)
        sent = 0
        first_relay_done = asyncio.Event()

        async def publish_then_stop_after_seven(topic, key, value, headers, correlation_id):
            nonlocal sent
            await publish(topic, key, value, headers, correlation_id)
            sent += 1
            if sent == 7:
                first_relay_done.set()

        first = outbox.OutboxRelay(database.url, publish_then_stop_after_seven, batch_size=100)
        first.start()
        await first_relay_done.wait()
        await first.stop()
        async with pool.acquire() as connection:
            left = await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        assert 0 < left < 20, "the first relay should have stopped in the middle of the batch"

        second = outbox.OutboxRelay(database.url, publish, batch_size=100)
        second.start()
        wanted = {event.id for event in recorded}
        async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
            await reader.wait_for(lambda record: json.loads(record.value)["id"] in wanted, count=20)
            records = [r for r in await reader.drain(1.5) if json.loads(r.value)["id"] in wanted]
        await second.stop()

        ids = [json.loads(record.value)["id"] for record in records]
        assert sorted(ids) == sorted(wanted), "every event exactly once"
        for aggregate in aggregates:
            on_kafka = [json.loads(r.value)["id"] for r in records if r.key == aggregate.encode()]
            in_outbox = [event.id for event in recorded if event.subject == aggregate]
            assert on_kafka == in_outbox, "one aggregate's events keep their order under its key"
        assert {record.headers[0] for record in records} == {("content-type", b"application/cloudevents+json")}
    finally:
        await broker.stop()
        await pool.close()


async def test_the_relay_is_woken_by_the_commit_rather_than_a_timer(database_for):
    database = await database_for("periods")
    pool = database.pool
    published = asyncio.Queue()

    async def publish(topic, key, value, headers, correlation_id):
        await published.put(key)

    relay = outbox.OutboxRelay(database.url, publish, safety_poll_seconds=600)
    relay.start()

    async def record(aggregate_id: str) -> None:
        async with pool.acquire() as connection, connection.transaction():
            await outbox.record(connection, closed_event(aggregate_id))

    try:
        # Once the first event is out, the relay listens (it listens before its first pass) and then waits
        # ten minutes for its next poll: only the notification can bring the second one out in time.
        await record("first")
        assert await asyncio.wait_for(published.get(), 10) == b"first"
        await record("woken")
        assert await asyncio.wait_for(published.get(), 10) == b"woken"
    finally:
        await relay.stop()


async def test_an_event_delivered_twice_is_handled_once(database_for):
    pool = (await database_for("periods")).pool
    effects = 0

    async def handle(event_id: str) -> None:
        nonlocal effects
        async with pool.acquire() as connection, connection.transaction():
            if await first_delivery(connection, "periods.erp.commitments", event_id, "t.v1"):
                effects += 1

    await handle("event-1")
    await handle("event-1")
    await handle("event-2")
    assert effects == 2


async def test_an_inbox_record_rolls_back_with_a_failed_handler_so_the_redelivery_is_handled(database_for):
    pool = (await database_for("periods")).pool

    class HandlerFailed(Exception):
        pass

    try:
        async with pool.acquire() as connection, connection.transaction():
            assert await first_delivery(connection, "periods.erp.commitments", "event-1", "t.v1")
            raise HandlerFailed
    except HandlerFailed:
        pass
    async with pool.acquire() as connection, connection.transaction():
        assert await first_delivery(connection, "periods.erp.commitments", "event-1", "t.v1")


async def test_a_relay_that_dies_between_kafka_and_the_mark_repeats_that_event_with_the_same_id(
    infrastructure, database_for
):
    database = await database_for("periods")
    broker = create_broker(service_settings(infrastructure, "periods", database.url))
    await broker.connect()
    try:
        async with database.pool.acquire() as connection, connection.transaction():
            recorded = [await outbox.record(connection, closed_event("crashing")) for number in range(10)]
        publish = outbox_publisher(broker)
        calls = 0

        async def publish_then_die_once(topic, key, value, headers, correlation_id):
            nonlocal calls
            await publish(topic, key, value, headers, correlation_id)
            calls += 1
            if calls == 4:
                raise ConnectionResetError("the relay's process died here")

        relay = outbox.OutboxRelay(database.url, publish_then_die_once)
        relay.start()
        wanted = {event.id for event in recorded}
        async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
            await reader.wait_for(lambda record: json.loads(record.value)["id"] in wanted, count=11)
            ids = [json.loads(r.value)["id"] for r in await reader.drain(1.5) if json.loads(r.value)["id"] in wanted]
        await relay.stop()
    finally:
        await broker.stop()
    assert set(ids) == wanted, "nothing lost"
    assert ids == [event.id for event in recorded[:4]] + [event.id for event in recorded[3:]]


async def test_a_redelivered_event_reaches_its_handler_once(infrastructure, database_for):
    database = await database_for("periods")
    await database.pool.execute("CREATE TABLE effects (event_id text)")

    async def count_effect(connection, event, data) -> None:
        await connection.execute("INSERT INTO effects VALUES ($1)", event.id)

    counting = ServiceDefinition(
        name="periods",
        title="counting",
        subscriptions=lambda clock: {
            ERP_COMMITMENTS: {CommitmentUpserted.TYPE: Route(CommitmentUpserted, count_effect)}
        },
    )
    event = erp_event(commitment("SC-COUNT"))
    async with running_service(counting, service_settings(infrastructure, "periods", database.url)):
        for _ in range(3):
            await publish_event(infrastructure.bootstrap_servers, ERP_COMMITMENTS, "SC-COUNT", event)
        other = erp_event(commitment("SC-COUNT", version=2))
        await publish_event(infrastructure.bootstrap_servers, ERP_COMMITMENTS, "SC-COUNT", other)
        async with asyncio.timeout(20):
            while not await database.pool.fetchval("SELECT 1 FROM effects WHERE event_id = $1", other.id):
                await asyncio.sleep(0.1)
    # The group reads the topic from its start, earlier tests' events included: count this test's.
    rows = await database.pool.fetch("SELECT event_id FROM effects WHERE event_id = ANY($1)", [event.id, other.id])
    assert sorted(row["event_id"] for row in rows) == sorted([event.id, other.id])
