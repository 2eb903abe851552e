"""The claims service reacting to answers through the real broker: an acceptance before the due date makes one
draft claim, after it the attempt is refused, and an acceptance that outruns its commitment waits for it."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.claims.app import definition as claims
from shared.contracts.responses import InviteAccepted
from shared.contracts.topics import BILLING_CLAIMS, BILLING_RESPONSES, ERP_COMMITMENTS
from shared.envelope import SOURCE_PREFIX, CloudEvent
from tests.factories import commitment, erp_event
from tests.support import publish_event, running_service, service_settings, topic_reader

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


@pytest.fixture
async def service(infrastructure, database_for):
    database = await database_for("claims")
    settings = service_settings(infrastructure, "claims", database.url)
    async with running_service(claims, settings):
        yield Answers(infrastructure.bootstrap_servers, database.pool)


class Answers:
    def __init__(self, bootstrap: str, pool):
        self.bootstrap = bootstrap
        self.pool = pool
        self.project = f"P-{uuid.uuid4().hex[:8]}"
        self.commitment_id = f"{self.project}-SC-1"
        self.period_id = str(uuid.uuid4())

    async def publish_commitment(self) -> None:
        sheet = commitment(self.commitment_id, project_id=self.project)
        await publish_event(self.bootstrap, ERP_COMMITMENTS, self.commitment_id, erp_event(sheet))

    def acceptance(self, responded_at: datetime, user_id: str = "U-9") -> CloudEvent:
        accepted = InviteAccepted(
            invite_id=str(uuid.uuid4()),
            period_id=self.period_id,
            project_id=self.project,
            commitment_id=self.commitment_id,
            contact={"user_id": user_id, "name": "Jane Citizen", "email": "jane@concreteco.example"},
            answer="yes",
            responded_at=responded_at,
            due_at=DUE_AT,
        )
        return CloudEvent.new(
            InviteAccepted.TYPE,
            SOURCE_PREFIX + "responses",
            accepted.model_dump(mode="json"),
            subject=accepted.invite_id,
        )

    async def publish(self, event: CloudEvent) -> None:
        await publish_event(self.bootstrap, BILLING_RESPONSES, event.subject, event)

    async def handled(self, *events: CloudEvent) -> None:
        """Wait until the service's inbox holds every one of `events`."""
        ids = [event.id for event in events]
        async with asyncio.timeout(20):
            while await self.pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = ANY($1)", ids) < len(ids):
                await asyncio.sleep(0.1)

    async def claims(self) -> int:
        """Claims of this test's period (the service also replays earlier tests' events from the topics)."""
        return await self.pool.fetchval("SELECT count(*) FROM claims WHERE period_id = $1", uuid.UUID(self.period_id))

    def of_this_period(self, record) -> bool:
        return json.loads(record.value)["data"].get("period_id") == self.period_id


async def test_an_acceptance_before_the_due_date_makes_one_draft_claim_however_often_it_comes(service):
    await service.publish_commitment()
    accepted = service.acceptance(DUE_AT - timedelta(days=3))
    await service.publish(accepted)
    async with topic_reader(service.bootstrap, BILLING_CLAIMS) as reader:
        [record] = await reader.wait_for(service.of_this_period)
        event = json.loads(record.value)
        assert event["type"] == "billing.claim.created.v1"
        assert event["data"]["commitment_id"] == service.commitment_id
        assert event["data"]["cause"] == "invite_accepted" and event["data"]["on_behalf"] is False
        # The same event again, and a second contact's Yes for the same commitment.
        second = service.acceptance(DUE_AT - timedelta(days=2), user_id="U-10")
        await service.publish(accepted)
        await service.publish(second)
        await service.handled(second)
        await reader.drain(1)
        assert len([record for record in reader.seen if service.of_this_period(record)]) == 1
    claims = await service.pool.fetch(
        "SELECT status, contact FROM claims WHERE period_id = $1", uuid.UUID(service.period_id)
    )
    assert [(row["status"], row["contact"]["user_id"]) for row in claims] == [("draft", "U-9")]


async def test_an_acceptance_after_the_due_date_is_refused_and_announced(service):
    await service.publish_commitment()
    await service.publish(service.acceptance(DUE_AT + timedelta(minutes=1)))
    async with topic_reader(service.bootstrap, BILLING_CLAIMS) as reader:
        [record] = await reader.wait_for(service.of_this_period)
    event = json.loads(record.value)
    assert event["type"] == "billing.claim.attempt_rejected.v1"
    assert event["data"]["reason"] == "due_date_passed" and event["data"]["attempt"] == "invite_accepted"
    assert await service.claims() == 0


async def test_an_acceptance_that_outruns_its_commitment_makes_the_claim_when_the_commitment_arrives(service):
    accepted = service.acceptance(DUE_AT - timedelta(days=3))
    await service.publish(accepted)
    await service.handled(accepted)
    assert await service.claims() == 0
    await service.publish_commitment()
    async with topic_reader(service.bootstrap, BILLING_CLAIMS) as reader:
        [record] = await reader.wait_for(service.of_this_period)
    assert json.loads(record.value)["type"] == "billing.claim.created.v1"
    assert (
        await service.pool.fetchval(
            "SELECT count(*) FROM waiting_acceptances WHERE commitment_id = $1", service.commitment_id
        )
        == 0
    )
