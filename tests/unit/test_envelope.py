"""The CloudEvents envelope on Kafka: both modes of the Kafka protocol binding, and what is refused."""

import json

import pytest

from shared.envelope import STRUCTURED_CONTENT_TYPE, CloudEvent, MalformedEvent, from_kafka

ERP_EVENT = {
    "specversion": "1.0",
    "id": "0b6f7c1e",
    "source": "erp://acme",
    "type": "erp.commitment.upserted.v1",
    "time": "2026-11-20T01:02:03Z",
    "subject": "SC-0042",
    "datacontenttype": "application/json",
    "data": {"commitment_id": "SC-0042", "version": 3},
}


def test_a_structured_mode_event_is_read_from_the_kafka_value():
    event = from_kafka(json.dumps(ERP_EVENT).encode(), {"content-type": STRUCTURED_CONTENT_TYPE.encode()})
    assert event.id == "0b6f7c1e"
    assert event.type == "erp.commitment.upserted.v1"
    assert event.data == {"commitment_id": "SC-0042", "version": 3}


def test_a_binary_mode_event_is_read_from_ce_headers_and_the_value_is_its_data():
    headers = {
        "ce_specversion": b"1.0",
        "ce_id": b"0b6f7c1e",
        "ce_source": b"erp://acme",
        "ce_type": b"erp.commitment.upserted.v1",
        "ce_time": b"2026-11-20T01:02:03Z",
        "ce_subject": b"SC-0042",
        "content-type": b"application/json",
    }
    event = from_kafka(json.dumps(ERP_EVENT["data"]).encode(), headers)
    assert event.id == "0b6f7c1e"
    assert event.source == "erp://acme"
    assert event.subject == "SC-0042"
    assert event.time.isoformat() == "2026-11-20T01:02:03+00:00"
    assert event.data == {"commitment_id": "SC-0042", "version": 3}


def test_binary_and_structured_renderings_of_one_event_read_back_the_same():
    event = CloudEvent.new("billing.period.opened.v1", "urn:test", {"period_id": "p-1"}, correlationid="c-9")
    structured = from_kafka(*event.to_structured())
    binary = from_kafka(*event.to_binary())
    assert structured == binary == event
    assert binary.correlation_id == "c-9"


def test_an_event_without_a_correlation_id_is_its_own_correlation():
    event = CloudEvent.new("t.v1", "urn:test", {})
    assert event.correlation_id == event.id


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json at all", "not a valid CloudEvent"),
        (json.dumps({**ERP_EVENT, "specversion": "0.3"}).encode(), "specversion"),
        (json.dumps({key: v for key, v in ERP_EVENT.items() if key != "id"}).encode(), "id: Field required"),
        (b"\xff\xfe\x00", "not a valid CloudEvent"),
        (b"", "not a valid CloudEvent"),
    ],
)
def test_a_value_that_is_not_a_cloudevent_is_refused_saying_why(value, reason):
    with pytest.raises(MalformedEvent, match=reason):
        from_kafka(value, {"content-type": STRUCTURED_CONTENT_TYPE})


def test_a_binary_mode_event_with_a_body_that_is_not_json_is_refused():
    headers = {
        "ce_specversion": "1.0",
        "ce_id": "1",
        "ce_source": "s",
        "ce_type": "t",
        "content-type": "application/json",
    }
    with pytest.raises(MalformedEvent):
        from_kafka(b"{broken", headers)


def test_a_structured_content_type_wins_over_stray_ce_headers():
    headers = {"content-type": STRUCTURED_CONTENT_TYPE, "ce_specversion": "1.0", "ce_id": "from-a-header"}
    assert from_kafka(json.dumps(ERP_EVENT).encode(), headers).id == "0b6f7c1e"


def test_a_structured_event_without_specversion_is_refused():
    without = {key: value for key, value in ERP_EVENT.items() if key != "specversion"}
    with pytest.raises(MalformedEvent, match="specversion: Field required"):
        from_kafka(json.dumps(without).encode(), {"content-type": STRUCTURED_CONTENT_TYPE})
