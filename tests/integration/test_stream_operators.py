"""`itb events tail`, `itb dlq` and `itb lag` against the real broker, found as `itb` finds it."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

import shared.erp
from deploy.cli import main
from deploy.operators.lag import PartitionLag
from services.periods.app import definition as periods
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY, dead_letter_topic
from shared.envelope import CloudEvent
from tests.factories import commitment
from tests.factories import erp_event as erp_event_of
from tests.support import publish, publish_event, running_service, service_settings, topic_reader


@pytest.fixture
def bootstrap(infrastructure, monkeypatch, tmp_path) -> str:
    monkeypatch.setenv("ITB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infrastructure.bootstrap_servers)
    return infrastructure.bootstrap_servers


async def itb(*arguments: str) -> int:
    return await asyncio.to_thread(main, list(arguments))


def erp_event(type_: str, key: str) -> CloudEvent:
    return CloudEvent.new(type_, "urn:erp:test", {"id": key, "note": "x" * 300}, subject=key)


async def test_tail_shows_a_line_per_event_and_what_is_not_an_event_filtered_by_key_and_type(bootstrap, capsys):
    key = f"SC-TAIL-{uuid.uuid4().hex[:8]}"
    await publish_event(bootstrap, ERP_DIRECTORY, key, erp_event("erp.directory.something_else.v1", key))
    await publish_event(bootstrap, ERP_DIRECTORY, key, erp_event("erp.directory.tailed.v1", key))
    await publish(bootstrap, ERP_DIRECTORY, key, b"\x00 not json", {"content-type": "application/json"})

    assert await itb("events", "tail", "--topic", ERP_DIRECTORY, "--key", key, "--from-beginning") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert f"  {ERP_DIRECTORY}  erp.directory.tailed.v1  key={key}  subject={key}  id={key} note=xxx" in lines[1]
    assert lines[1].endswith("…") and len(lines[1]) < 250  # the summary is cut short
    assert f"  {ERP_DIRECTORY}  (not a readable event)  key={key}  not a valid CloudEvent" in lines[2]

    assert await itb("events", "tail", "--topic", ERP_DIRECTORY, "--key", key, "--type", "erp.directory.tailed.v1") == 0
    [line] = (
        capsys.readouterr().out.splitlines()
    )  # the last records of each partition hold it, without --from-beginning
    assert "erp.directory.tailed.v1" in line

    assert await itb("events", "tail", "--topic", ERP_DIRECTORY, "--key", key, "--from-beginning", "--json") == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [one.get("event", {}).get("type") for one in shown] == [
        "erp.directory.something_else.v1",
        "erp.directory.tailed.v1",
        None,
    ]
    assert shown[1]["event"]["data"]["note"] == "x" * 300 and shown[1]["key"] == key
    assert "not a valid CloudEvent" in shown[2]["problem"]


async def test_a_dead_letter_is_listed_shown_and_sent_back_to_its_topic_with_its_key_and_headers(
    bootstrap, database_for, infrastructure, capsys
):
    trace = str(uuid.uuid4())
    database = await database_for("periods")
    async with running_service(periods, service_settings(infrastructure, "periods", database.url)):
        await publish(bootstrap, ERP_COMMITMENTS, "SC-DLQ", b'{"specversion": "1.0", "oops"', {"x-trace": trace})
        async with topic_reader(bootstrap, dead_letter_topic("periods")) as dead_letters:
            [dead] = await dead_letters.wait_for(lambda record: ("x-trace", trace.encode()) in record.headers)
        letter_id = f"periods/{dead.partition}/{dead.offset}"

        assert await itb("dlq", "list", "periods") == 0
        [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith(letter_id + " ")]
        assert f"from {ERP_COMMITMENTS}  (not a readable event)  not a valid CloudEvent" in line

        assert await itb("dlq", "show", letter_id) == 0
        shown = capsys.readouterr().out
        assert f"Dead letter {letter_id}" in shown and f"  x-trace: {trace}" in shown
        assert "Key:       SC-DLQ" in shown and '{"specversion": "1.0", "oops"' in shown

        assert await itb("dlq", "replay", letter_id, "--dry-run") == 0
        assert capsys.readouterr().out.endswith("Would send back 1 message(s); nothing was sent (--dry-run).\n")

        async with topic_reader(bootstrap, ERP_COMMITMENTS, dead_letter_topic("periods")) as reader:
            assert await itb("dlq", "replay", letter_id) == 0
            assert f"{letter_id} -> {ERP_COMMITMENTS}, key SC-DLQ" in capsys.readouterr().out
            originals = await reader.wait_for(
                lambda record: record.topic == ERP_COMMITMENTS and ("x-trace", trace.encode()) in record.headers, 2
            )
            # Sent back as it first came: same value and key, and none of the dead letter's own headers.
            assert originals[1].value == originals[0].value and originals[1].key == b"SC-DLQ"
            assert not [name for name, _ in originals[1].headers if name.startswith("dlq-")]
            # Still malformed, so the consumer sends it to the dead letters again and goes on.
            await reader.wait_for(
                lambda record: (
                    record.topic == dead_letter_topic("periods") and ("x-trace", trace.encode()) in record.headers
                ),
                2,
            )

    assert await itb("dlq", "show", "periods/0/999999999") == 2
    assert "There is no dead letter periods/0/999999999" in capsys.readouterr().err
    assert await itb("dlq", "show", "nobody/1/2") == 2
    assert "names no dead letter: ids are SERVICE/PARTITION/OFFSET" in capsys.readouterr().err


async def test_lag_shows_each_partition_a_group_committed_on_with_its_end_and_lag(bootstrap, capsys):
    group = f"lag-test-{uuid.uuid4().hex[:8]}"
    member = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await member.start()
    try:
        partitions = [
            TopicPartition(ERP_DIRECTORY, number) for number in sorted(member.partitions_for_topic(ERP_DIRECTORY))
        ]
        ends = await member.end_offsets(partitions)
        member.assign(partitions[:1])
        await member.commit({partitions[0]: 0})
    finally:
        await member.stop()

    assert await itb("lag", "--group", group) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["group", "topic[partition]", "committed", "end", "lag"]
    assert lines[1].split() == [
        group,
        f"{ERP_DIRECTORY}[{partitions[0].partition}]",
        "0",
        str(ends[partitions[0]]),
        str(ends[partitions[0]]),
    ]
    assert len(lines) == 3 and lines[2] == f"Total lag: {ends[partitions[0]]}"

    assert await itb("lag", "--group", "no-such-group-") == 0
    assert capsys.readouterr().out == "No consumer group has committed an offset yet.\n"


def test_an_end_offset_below_the_committed_one_shows_no_negative_lag_and_says_why():
    reported = PartitionLag("claims", TopicPartition(ERP_DIRECTORY, 1), committed=120, end=100)
    assert reported.lag == 0
    assert reported.line().split()[2:5] == ["120", "100", "0"]
    assert reported.line().endswith("(the broker reports an end below the committed offset)")


async def test_a_dead_letter_whose_cause_is_fixed_is_replayed_and_then_takes_effect(
    bootstrap, database_for, infrastructure, monkeypatch, capsys
):
    """A handler failing for a reason fixed later (a bug, since deployed): its event goes to the dead letters after
    its tries, and replayed, it takes effect once."""
    commitment_id = f"SC-FIXED-{uuid.uuid4().hex[:8]}"
    broken = True
    apply = shared.erp.apply_commitment

    async def apply_unless_broken(connection, commitment, *args):
        if broken and commitment.commitment_id == commitment_id:
            raise RuntimeError("a bug in this version of the handler")
        await apply(connection, commitment, *args)

    monkeypatch.setattr(shared.erp, "apply_commitment", apply_unless_broken)
    database = await database_for("periods")
    settings = service_settings(infrastructure, "periods", database.url)
    async with running_service(periods, settings):
        event = erp_event_of(commitment(commitment_id, project_id="P-FIXED"))
        async with topic_reader(bootstrap, dead_letter_topic("periods")) as dead_letters:
            await publish_event(bootstrap, ERP_COMMITMENTS, commitment_id, event)
            [dead] = await dead_letters.wait_for(lambda record: record.key == commitment_id.encode())
        assert b"a bug in this version of the handler" in dict(dead.headers)["dlq-error"]
        stored = "SELECT count(*) FROM erp_commitments WHERE commitment_id = $1"
        assert await database.pool.fetchval(stored, commitment_id) == 0

        broken = False
        assert await itb("dlq", "replay", f"periods/{dead.partition}/{dead.offset}") == 0
        assert "Sent back 1 message(s) to their topics." in capsys.readouterr().out
        async with asyncio.timeout(20):
            while await database.pool.fetchval(stored, commitment_id) == 0:
                await asyncio.sleep(0.1)
        handled = "SELECT count(*) FROM inbox WHERE event_id = $1"
        assert await database.pool.fetchval(handled, event.id) == 1
