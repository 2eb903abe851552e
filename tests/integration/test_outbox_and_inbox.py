"""The outbox publishes each event exactly once, across a relay restart, and passes over what Kafka refuses for
good; the inbox stops second effects; /readyz shows a relay failing or a consumer retrying too long."""

import asyncio
import json
import uuid

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from shared import outbox
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.periods import BillingPeriodClosed, InvitesResendRequested
from shared.contracts.topics import BILLING_PERIODS, ERP_COMMITMENTS
from shared.envelope import CloudEvent
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
        aggregates = [str(uuid.uuid4()) for _ in range(3)]
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
        first, woken = str(uuid.uuid4()), str(uuid.uuid4())
        await record(first)
        assert await asyncio.wait_for(published.get(), 10) == first.encode()
        await record(woken)
        assert await asyncio.wait_for(published.get(), 10) == woken.encode()
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
            crashing = str(uuid.uuid4())
            recorded = [await outbox.record(connection, closed_event(crashing)) for number in range(10)]
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


def resend_of(period_id: str, commitments: int) -> InvitesResendRequested:
    return InvitesResendRequested(
        period_id=period_id,
        project_id="P-OUTBOX",
        commitment_ids=[f"SC-{number:06d}" for number in range(commitments)],
        requested_by={"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"},
        requested_at="2026-11-20T00:00:00Z",
    )


async def insert_unchecked(connection, event, topic: str | None = None) -> CloudEvent:
    """A row as `record` wrote it before events had a size limit: straight into the table, however large."""
    envelope = CloudEvent.new(event.TYPE, "urn:invite-to-bill:periods", event.model_dump(mode="json"))
    await connection.execute(
        """
        INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, envelope)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        uuid.UUID(envelope.id),
        topic or event.TOPIC,
        event.AGGREGATE_TYPE,
        event.aggregate_id,
        envelope.type,
        envelope.model_dump(mode="json", exclude_none=True),
    )
    return envelope


async def outbox_row(pool, event_id: str):
    return await pool.fetchrow("SELECT * FROM outbox WHERE event_id = $1", uuid.UUID(event_id))


async def test_an_event_over_the_size_limit_is_refused_when_recorded_saying_what_to_do(database_for):
    pool = (await database_for("periods")).pool
    with pytest.raises(outbox.EventTooLarge) as refused:
        async with pool.acquire() as connection, connection.transaction():
            await outbox.record(connection, resend_of(str(uuid.uuid4()), commitments=30_000))
    assert refused.value.status_code == 413
    assert "more than the 262,144 bytes an event may hold; ask for less in one request" in str(refused.value)
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_row_kafka_refuses_for_good_is_marked_failed_and_other_aggregates_events_flow_past_it(
    infrastructure, database_for
):
    database = await database_for("periods")
    broker = create_broker(service_settings(infrastructure, "periods", database.url))
    await broker.connect()
    big, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with database.pool.acquire() as connection, connection.transaction():
        # 150,000 commitments: about 2 MB, which Kafka's producer refuses (its 1 MB request limit).
        too_large = await insert_unchecked(connection, resend_of(big, commitments=150_000))
        held = await outbox.record(connection, closed_event(big))
        flowing = await outbox.record(connection, closed_event(other))
    relay = outbox.OutboxRelay(database.url, outbox_publisher(broker))
    relay.start()
    try:
        async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
            await reader.wait_for(lambda record: json.loads(record.value)["id"] == flowing.id)
    finally:
        await relay.stop()
        await broker.stop()

    failed = await outbox_row(database.pool, too_large.id)
    assert failed["failed_at"] is not None and failed["published_at"] is None
    assert failed["failure"].startswith("MessageSizeTooLargeError")
    waiting = await outbox_row(database.pool, held.id)
    assert (waiting["failed_at"], waiting["published_at"]) == (None, None), "held behind its aggregate's failure"
    assert relay.health.refused == 1
    assert relay.health.failing_since is None, "a refusal for good is not a relay failing"
    async with database.pool.acquire() as connection:
        backlog = await outbox.backlog(connection)
    assert (backlog.waiting, backlog.held, [event.event_id for event in backlog.failed]) == (1, 1, [too_large.id])


async def test_a_row_for_a_topic_that_cannot_exist_is_marked_failed_without_waiting_on_kafka(database_for):
    database = await database_for("periods")
    published = []

    async def publish(topic, key, value, headers, correlation_id):
        published.append(topic)

    async with database.pool.acquire() as connection, connection.transaction():
        nowhere = await insert_unchecked(connection, closed_event(str(uuid.uuid4())), topic="billing periods!")
        await outbox.record(connection, closed_event(str(uuid.uuid4())))
    relay = outbox.OutboxRelay(database.url, publish)
    relay.start()
    try:
        async with asyncio.timeout(10):
            while not published:
                await asyncio.sleep(0.05)
    finally:
        await relay.stop()
    assert published == [BILLING_PERIODS]
    failure = (await outbox_row(database.pool, nowhere.id))["failure"]
    assert failure == "Unpublishable: 'billing periods!' is not a topic name Kafka accepts"


async def test_a_failed_event_retried_by_an_operator_is_published_before_the_events_it_held(
    infrastructure, database_for
):
    database = await database_for("periods")
    broker = create_broker(service_settings(infrastructure, "periods", database.url))
    await broker.connect()
    publish = outbox_publisher(broker)
    authorized = False

    async def publish_once_authorized(topic, key, value, headers, correlation_id):
        # What Kafka answers a producer without write access to the topic, until its ACL is fixed.
        if not authorized:
            raise TopicAuthorizationFailedError(topic)
        await publish(topic, key, value, headers, correlation_id)

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with database.pool.acquire() as connection, connection.transaction():
        refused = await outbox.record(connection, closed_event(first))
        held = await outbox.record(connection, closed_event(first))
    relay = outbox.OutboxRelay(database.url, publish_once_authorized)
    relay.start()
    try:
        async with asyncio.timeout(10):
            while (await outbox_row(database.pool, refused.id))["failed_at"] is None:
                await asyncio.sleep(0.05)
        authorized = True
        async with database.pool.acquire() as connection, connection.transaction():
            later = await outbox.record(connection, closed_event(second))
        async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
            await reader.wait_for(lambda record: json.loads(record.value)["id"] == later.id)
            assert (await outbox_row(database.pool, held.id))["published_at"] is None
            async with database.pool.acquire() as connection:
                assert await outbox.retry_failed(connection, refused.id) == [refused.id]
            records = await reader.wait_for(lambda record: record.key == first.encode(), count=2)
    finally:
        await relay.stop()
        await broker.stop()
    assert [json.loads(record.value)["id"] for record in records] == [refused.id, held.id]
    assert (await outbox_row(database.pool, refused.id))["failure"] is None


async def test_readiness_turns_503_while_the_relay_fails_to_publish_and_back_when_it_publishes(
    infrastructure, database_for
):
    database = await database_for("periods")
    settings = service_settings(infrastructure, "periods", database.url, outbox_failing_limit_seconds=0)
    broker_away = True
    relaying = ServiceDefinition(name="periods", title="relaying")
    async with running_service(relaying, settings) as service, httpx.AsyncClient(base_url=service.base_url) as client:
        broker = service.app.state.broker
        publish = broker.publish

        async def publish_unless_away(*args, **kwargs):
            # What aiokafka raises while the broker is away.
            if broker_away:
                raise KafkaConnectionError("Unable to connect to the broker")
            return await publish(*args, **kwargs)

        broker.publish = publish_unless_away
        async with database.pool.acquire() as connection, connection.transaction():
            await outbox.record(connection, closed_event(str(uuid.uuid4())))

        async with asyncio.timeout(20):
            while (ready := await client.get("/readyz")).status_code != 503:
                await asyncio.sleep(0.1)
        assert ready.json()["outbox"] == "failing"
        [reason] = ready.json()["reasons"]
        assert reason.startswith("The outbox relay has failed to publish for")
        assert "KafkaConnectionError" in reason

        broker_away = False
        async with asyncio.timeout(20):
            while (ready := await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        assert ready.json()["outbox"] == "ok"
        assert await database.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_readiness_turns_503_while_an_event_waits_in_the_outbox_past_the_limit_though_nothing_fails(
    infrastructure, database_for
):
    database = await database_for("periods")
    settings = service_settings(infrastructure, "periods", database.url, outbox_waiting_limit_seconds=1)
    kafka_slow = asyncio.Event()  # set: the broker takes what it is given
    relaying = ServiceDefinition(name="periods", title="relaying")
    async with running_service(relaying, settings) as service, httpx.AsyncClient(base_url=service.base_url) as client:
        broker = service.app.state.broker
        publish = broker.publish

        async def publish_when_taken(*args, **kwargs):
            await kafka_slow.wait()  # a publish that neither fails nor ends, as with a broker that stopped reading
            return await publish(*args, **kwargs)

        broker.publish = publish_when_taken
        async with database.pool.acquire() as connection, connection.transaction():
            await outbox.record(connection, closed_event(str(uuid.uuid4())))

        async with asyncio.timeout(20):
            while (ready := await client.get("/readyz")).status_code != 503:
                await asyncio.sleep(0.1)
        assert ready.json()["outbox"] == "behind"
        assert ready.json()["oldest_event_waiting_seconds"] >= 1
        [reason] = ready.json()["reasons"]
        assert reason.startswith("An event has waited ") and "`itb outbox` shows the backlog" in reason

        kafka_slow.set()
        async with asyncio.timeout(20):
            while (ready := await client.get("/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
        assert (ready.json()["outbox"], ready.json()["oldest_event_waiting_seconds"]) == ("ok", 0)


async def test_readiness_names_a_consumer_retrying_a_message_past_the_limit_and_recovers(infrastructure, database_for):
    database = await database_for("periods")
    await database.pool.execute("CREATE TABLE contested (id int PRIMARY KEY); INSERT INTO contested VALUES (1)")
    mine = f"SC-{uuid.uuid4().hex[:8]}"

    async def touch_contested_row(connection, event, data: CommitmentUpserted) -> None:
        if data.commitment_id == mine:  # the topic holds earlier tests' events too: let them through
            await connection.execute("SET LOCAL lock_timeout = '200ms'")
            await connection.execute("SELECT id FROM contested WHERE id = 1 FOR UPDATE")

    contested = ServiceDefinition(
        name="periods",
        title="contested",
        subscriptions=lambda clock: {
            ERP_COMMITMENTS: {CommitmentUpserted.TYPE: Route(CommitmentUpserted, touch_contested_row)}
        },
    )
    settings = service_settings(infrastructure, "periods", database.url, consumer_retrying_limit_seconds=0)
    holder = await asyncpg.connect(database.url)
    holding = holder.transaction()
    await holding.start()
    await holder.execute("SELECT id FROM contested WHERE id = 1 FOR UPDATE")
    try:
        async with (
            running_service(contested, settings) as service,
            httpx.AsyncClient(base_url=service.base_url) as client,
        ):
            event = erp_event(commitment(mine))
            await publish_event(infrastructure.bootstrap_servers, ERP_COMMITMENTS, mine, event)
            async with asyncio.timeout(30):
                while (ready := await client.get("/readyz")).status_code != 503:
                    await asyncio.sleep(0.1)
            [stuck] = ready.json()["stuck_consumers"]
            assert (stuck["consumer"], stuck["event_id"]) == ("periods.erp.commitments", event.id)
            assert stuck["error"].startswith("LockNotAvailableError")
            assert ready.json()["consumers"] == "stuck"

            await holding.rollback()
            async with asyncio.timeout(30):
                while (ready := await client.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.1)
            handled = "SELECT 1 FROM inbox WHERE consumer = 'periods.erp.commitments' AND event_id = $1"
            assert await database.pool.fetchval(handled, event.id)
    finally:
        await holder.close()
