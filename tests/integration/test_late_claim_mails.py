"""A request to claim late and its answer (rule 18b) heard on billing.claims by the notifier and the period
board: the administrator asked is emailed the link to answer it, the contact the day allowed or the reason, once
each however often the event comes; the board keeps each request's state whatever order its events come in."""

import asyncio
import uuid
from datetime import UTC, date, datetime

from shared.contracts.base import Contact, Person
from shared.contracts.claims import ClaimWindowExtended, LateClaimRequested, LateClaimRequestRefused
from shared.contracts.topics import BILLING_CLAIMS
from shared.envelope import CloudEvent
from tests.integration.billing_round import billing_round
from tests.support import publish_event

AT = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)  # 13:30 in Sydney


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


async def test_the_request_and_its_answers_are_emailed_once_each_and_kept_on_the_board(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        await round_.publish_commitment("SC-0042", ["jane", "raj"], status="approved", title="Concrete works")
        async with asyncio.timeout(20):
            while not await round_.notifier_pool.fetchval(
                "SELECT 1 FROM erp_commitments WHERE project_id = $1", round_.project
            ):
                await asyncio.sleep(0.1)
        alex = Person(id="alex", name="Alex Admin", email=f"alex@{round_.domain}")
        period_id, commitment_id = str(uuid.uuid4()), f"{round_.project}-SC-0042"
        jane_request, raj_request = str(uuid.uuid4()), str(uuid.uuid4())

        def about(name: str, request_id: str) -> dict:
            return {
                "request_id": request_id,
                "period_id": period_id,
                "project_id": round_.project,
                "commitment_id": commitment_id,
                "contact": Contact(**round_.contact(name)),
            }

        # The answers before their requests (topics' partitions are not ordered relative to each other).
        steps = [
            ClaimWindowExtended(
                **about("jane", jane_request), allowed_until=date(2026, 12, 10), allowed_by=alex, allowed_at=AT
            ),
            LateClaimRequestRefused(
                **about("raj", raj_request), reason="The <i>period</i> is closing.", refused_by=alex, refused_at=AT
            ),
            LateClaimRequested(**about("jane", jane_request), asked=alex, message="On <b>site</b>.", requested_at=AT),
            LateClaimRequested(**about("raj", raj_request), asked=alex, requested_at=AT),
        ]
        events = [CloudEvent.new(step.TYPE, "claims", step.model_dump(mode="json")) for step in steps]
        for step, event in zip(steps, events, strict=True):
            await publish_event(round_.bootstrap, BILLING_CLAIMS, step.request_id, event)
        messages = await round_.wait_for_mail(4)
        # One again under a new event id (a relay that crashed before marking it sent): no second email.
        again = CloudEvent.new(steps[0].TYPE, "claims", steps[0].model_dump(mode="json"))
        await publish_event(round_.bootstrap, BILLING_CLAIMS, jane_request, again)
        periods_pool = round_.periods.app.state.pool
        async with asyncio.timeout(20):
            while not await round_.notifier_pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", again.id):
                await asyncio.sleep(0.1)
            while await periods_pool.fetchval(
                "SELECT count(*) FROM inbox WHERE event_id = ANY($1::text[])", [event.id for event in events]
            ) < len(events):
                await asyncio.sleep(0.1)
        rows = await round_.notifier_pool.fetch(
            "SELECT kind, status, attempts, message_id FROM late_claim_mails WHERE request_id = ANY($1::text[])",
            [jane_request, raj_request],
        )
        facts = {
            row["contact_user_id"]: row["facts"]
            for row in await periods_pool.fetch(
                "SELECT contact_user_id, facts FROM period_board_rows WHERE period_id = $1", period_id
            )
        }

    assert len(round_.mail()) == 4
    assert sorted((row["kind"], row["status"], row["attempts"]) for row in rows) == [
        ("late_claim_allowed", "sent", 1),
        ("late_claim_refused", "sent", 1),
        ("late_claim_requested", "sent", 1),
        ("late_claim_requested", "sent", 1),
    ]
    by_subject = {message["Subject"]: message for message in messages}
    claims_url = round_.notifier.settings.claims_public_url.rstrip("/")
    asked = by_subject["Harbour Tower: Jane asks to claim late for SC-0042 Concrete works"]
    assert asked["To"].addresses[0].addr_spec == alex.email
    assert asked["Message-ID"] == f"<{jane_request}.requested@invite-to-bill>"
    assert f"{claims_url}/late-claim-requests/{jane_request}" in plain(asked)
    assert "On <b>site</b>." in plain(asked)
    assert "On &lt;b&gt;site&lt;/b&gt;." in asked.get_body(("html",)).get_content()
    allowed = by_subject["Harbour Tower: you may claim late for SC-0042 Concrete works until 10 December 2026"]
    assert allowed["To"].addresses[0].username == "jane"
    assert f"{claims_url}/claims/new?commitment={commitment_id}&period={period_id}" in plain(allowed)
    refused = by_subject["Harbour Tower: your request to claim late for SC-0042 Concrete works is refused"]
    assert refused["To"].addresses[0].username == "raj" and "The <i>period</i> is closing." in plain(refused)
    assert "The &lt;i&gt;period&lt;/i&gt; is closing." in refused.get_body(("html",)).get_content()

    jane, raj = facts[f"{round_.project}-jane"], facts[f"{round_.project}-raj"]
    assert jane["late_requests"][jane_request]["answer"] == "allowed"
    assert jane["late_requests"][jane_request]["allowed_until"] == "2026-12-10"
    assert jane["late_requests"][jane_request]["requested_at"] is not None
    assert raj["late_requests"][raj_request]["reason"] == "The <i>period</i> is closing."
