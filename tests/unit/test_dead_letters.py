"""Malformed events go to the service's dead-letter topic (fast, with FastStream's in-memory TestKafkaBroker).

The same path against the real broker is in tests/integration/test_erp_ingress.py.
"""

import json

from faststream.kafka import KafkaMessage, TestKafkaBroker

from shared.contracts.topics import BILLING_PERIODS, ERP_COMMITMENTS, ERP_DIRECTORY, dead_letter_topic
from shared.erp import erp_routes
from shared.messaging import consume, create_broker
from shared.period_view import period_routes
from shared.settings import Settings

SETTINGS = Settings(service_name="periods")


def broker_with_erp_ingress():
    return broker_consuming(erp_routes())


def broker_consuming(subscriptions: dict):
    """A broker whose consumers have no database (the events these tests send never reach one), and the
    dead letters it sends."""
    broker = create_broker(SETTINGS)
    for topic, routes in subscriptions.items():
        consume(broker, lambda: None, SETTINGS, topic, routes)
    dead_letters = []

    @broker.subscriber(dead_letter_topic("periods"))
    async def collect(message: KafkaMessage) -> None:
        dead_letters.append(message)

    return broker, dead_letters


async def test_a_value_that_is_not_a_cloudevent_goes_to_dead_letters_with_the_error_and_original_headers():
    broker, dead_letters = broker_with_erp_ingress()
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b"{oops", topic=ERP_COMMITMENTS, key=b"SC-1", headers={"traceparent": "00-abc-def-01"}
        )
    [dead] = dead_letters
    assert dead.body == b"{oops"
    assert dead.headers["traceparent"] == "00-abc-def-01"
    assert "not a valid CloudEvent" in dead.headers["dlq-error"]
    assert dead.headers["dlq-original-topic"] == ERP_COMMITMENTS


async def test_an_erp_event_whose_data_breaks_the_contract_goes_to_dead_letters_naming_the_field():
    broker, dead_letters = broker_with_erp_ingress()
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "erp://acme",
        "type": "erp.project_member.upserted.v1",
        "data": {
            "user_id": "U-9",
            "version": 2,
            "name": "Jane",
            "email": "not-an-email",
            "project_id": "P-1",
            "commitments_permission": "superuser",
        },
    }
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(json.dumps(event).encode(), topic=ERP_DIRECTORY, key=b"U-9")
    [dead] = dead_letters
    assert "email" in dead.headers["dlq-error"]
    assert "commitments_permission" in dead.headers["dlq-error"]


async def test_an_event_type_the_service_does_not_handle_is_skipped_not_dead_lettered():
    broker, dead_letters = broker_with_erp_ingress()
    event = {
        "specversion": "1.0",
        "id": "e-2",
        "source": "erp://acme",
        "type": "erp.vendor.upserted.v1",
        "data": {},
    }
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(json.dumps(event).encode(), topic=ERP_DIRECTORY, key=b"V-1")
    assert dead_letters == []


async def test_a_period_event_naming_a_period_that_is_no_uuid_goes_to_dead_letters_at_once():
    broker, dead_letters = broker_consuming(period_routes())

    closed = {
        "specversion": "1.0",
        "id": "e-2",
        "source": "urn:itb:periods",
        "type": "billing.period.closed.v1",
        "data": {
            "period_id": "P-1",
            "project_id": "P-1",
            "closed_at": "2026-11-20T00:00:00Z",
            "reason": "closed_by_administrator",
        },
    }
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(json.dumps(closed).encode(), topic=BILLING_PERIODS, key=b"P-1")
    [dead] = dead_letters
    assert "period_id" in dead.headers["dlq-error"]
