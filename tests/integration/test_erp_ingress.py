"""ERP ingress (shared/contracts/erp.py): version rules in the read model, and consumption through real Kafka."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from services.periods.app import definition as periods
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY, dead_letter_topic
from shared.erp import apply_commitment, apply_member_removed, apply_member_upserted, commitments_permission
from tests.factories import commitment, erp_event, member, removal
from tests.support import publish, publish_event, running_service, service_settings, topic_reader

T0 = datetime(2026, 11, 20, tzinfo=UTC)


async def stored_commitment(connection, commitment_id="SC-0042"):
    return await connection.fetchrow("SELECT * FROM erp_commitments WHERE commitment_id = $1", commitment_id)


async def test_a_higher_commitment_version_replaces_the_stored_one(database_for):
    async with (await database_for("periods")).pool.acquire() as connection:
        assert await apply_commitment(connection, commitment(version=1, status="draft"))
        assert await apply_commitment(connection, commitment(version=2, status="approved"))
        row = await stored_commitment(connection)
    assert (row["version"], row["status"]) == (2, "approved")


async def test_an_equal_or_lower_commitment_version_is_ignored(database_for):
    async with (await database_for("periods")).pool.acquire() as connection:
        await apply_commitment(connection, commitment(version=3, status="approved"))
        assert not await apply_commitment(connection, commitment(version=3, status="void"))
        assert not await apply_commitment(connection, commitment(version=2, status="draft"))
        row = await stored_commitment(connection)
    assert (row["version"], row["status"]) == (3, "approved")


async def test_a_commitment_keeps_its_contacts_and_schedule_of_values(database_for):
    async with (await database_for("periods")).pool.acquire() as connection:
        await apply_commitment(connection, commitment())
        row = await stored_commitment(connection)
        project = await connection.fetchrow("SELECT * FROM erp_projects WHERE project_id = 'P-100'")
    assert row["invoice_contacts"][0]["email"] == "jane@concreteco.example"
    assert row["schedule_of_values"][0]["scheduled_value"] == "125000.00"
    assert (project["name"], project["timezone"]) == ("Harbour Tower", "Australia/Sydney")


async def test_a_removed_member_is_not_revived_by_an_older_upsert_arriving_late(database_for):
    async with (await database_for("periods")).pool.acquire() as connection:
        await apply_member_upserted(connection, member(version=1, permission="admin"), erp_event(member()))
        assert await apply_member_removed(connection, removal(version=3))
        assert not await apply_member_upserted(connection, member(version=2, permission="admin"), erp_event(member()))
        assert await commitments_permission(connection, "U-9", "P-100") == "none"
        assert await apply_member_upserted(connection, member(version=4, permission="standard"), erp_event(member()))
        assert await commitments_permission(connection, "U-9", "P-100") == "standard"


async def test_a_user_name_and_email_come_from_their_newest_membership_event_on_any_project(database_for):
    async with (await database_for("periods")).pool.acquire() as connection:
        newer = member(project_id="P-2", version=1, name="Jane Citizen-Lee", email="jane@new.example")
        older = member(project_id="P-1", version=7, name="Jane Citizen", email="jane@old.example")
        await apply_member_upserted(connection, newer, erp_event(newer, time=T0 + timedelta(days=1)))
        await apply_member_upserted(connection, older, erp_event(older, time=T0))
        user = await connection.fetchrow("SELECT name, email FROM erp_users WHERE user_id = 'U-9'")
    assert dict(user) == {"name": "Jane Citizen-Lee", "email": "jane@new.example"}


async def test_erp_events_in_both_kafka_modes_are_consumed_and_a_malformed_one_goes_to_dead_letters(
    infrastructure, database_for
):
    database = await database_for("periods")
    bootstrap = infrastructure.bootstrap_servers
    project = f"P-{uuid.uuid4().hex[:8]}"
    structured = commitment("SC-1", project_id=project)
    binary = member("U-77", project_id=project, permission="admin", email="ops@acme.example")
    async with running_service(periods, service_settings(infrastructure, "periods", database.url)):
        await publish(bootstrap, ERP_COMMITMENTS, "SC-1", b'{"specversion": "1.0", "oops"', {"x-trace": project})
        await publish_event(bootstrap, ERP_COMMITMENTS, "SC-1", erp_event(structured))
        value, headers = erp_event(binary).to_binary()
        await publish(bootstrap, ERP_DIRECTORY, "U-77", value, headers)

        async with topic_reader(bootstrap, dead_letter_topic("periods")) as dead_letters:
            [dead] = await dead_letters.wait_for(lambda record: ("x-trace", project.encode()) in record.headers)
        headers = dict(dead.headers)
        assert dead.value == b'{"specversion": "1.0", "oops"'
        assert b"not a valid CloudEvent" in headers["dlq-error"]
        assert headers["dlq-original-topic"] == ERP_COMMITMENTS.encode()

        async with database.pool.acquire() as connection:
            await wait_for_row(connection, "SELECT 1 FROM erp_commitments WHERE commitment_id = 'SC-1'")
            await wait_for_row(
                connection,
                f"SELECT 1 FROM erp_project_members WHERE user_id = 'U-77' AND project_id = '{project}'",
            )
            assert await commitments_permission(connection, "U-77", project) == "admin"


async def test_an_event_with_headers_that_are_not_utf8_or_null_goes_to_dead_letters_and_the_next_one_is_consumed(
    infrastructure, database_for
):
    database = await database_for("periods")
    bootstrap = infrastructure.bootstrap_servers
    project = f"P-{uuid.uuid4().hex[:8]}"
    spoilt, good = commitment(f"{project}-SC-1", project_id=project), commitment(f"{project}-SC-2", project_id=project)
    async with running_service(periods, service_settings(infrastructure, "periods", database.url)):
        value, headers = erp_event(spoilt).to_structured()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            raw_headers = [(name, text.encode()) for name, text in headers.items()]
            await producer.send_and_wait(
                ERP_COMMITMENTS,
                value,
                key=spoilt.commitment_id.encode(),
                headers=[*raw_headers, ("x-trace", b"\xff" + project.encode()), ("x-null", None)],
            )
        finally:
            await producer.stop()
        await publish_event(bootstrap, ERP_COMMITMENTS, good.commitment_id, erp_event(good))

        async with topic_reader(bootstrap, dead_letter_topic("periods")) as dead_letters:
            [dead] = await dead_letters.wait_for(
                lambda record: project.encode() in dict(record.headers).get("x-trace", b"")
            )
        assert dead.value == value
        assert b"the headers x-trace,x-null are not UTF-8 text" in dict(dead.headers)["dlq-error"]
        async with database.pool.acquire() as connection:
            await wait_for_row(
                connection, f"SELECT 1 FROM erp_commitments WHERE commitment_id = '{good.commitment_id}'"
            )
            assert await stored_commitment(connection, spoilt.commitment_id) is None


async def wait_for_row(connection, query: str, within: float = 20) -> None:
    async with asyncio.timeout(within):
        while await connection.fetchval(query) is None:
            await asyncio.sleep(0.1)


async def test_a_late_event_for_another_commitment_does_not_bring_back_an_older_project_name(database_for):
    renamed = commitment("SC-A", version=5, project={**commitment().project.model_dump(), "name": "Harbour Tower II"})
    async with (await database_for("periods")).pool.acquire() as connection:
        await apply_commitment(connection, renamed, T0 + timedelta(days=2))
        await apply_commitment(connection, commitment("SC-B", version=1), T0)
        name = await connection.fetchval("SELECT name FROM erp_projects WHERE project_id = 'P-100'")
    assert name == "Harbour Tower II"
