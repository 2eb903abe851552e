"""One trace from an HTTP request through the event it causes, the consumer that handles it, and on to the email it
sends, over the real broker and SMTP server: the W3C trace context travels in the CloudEvents envelope and the
delivery row (shared/tracing.py). And the notifier's metrics count the email."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx

from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from shared.erp import apply_commitment, apply_member_upserted
from shared.sessions import issue_session_token
from tests.factories import commitment, erp_event, member
from tests.support import running_service, service_settings, wait_for_mail_to

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)


async def envelope_of(pool, event_type: str, project: str, within: float = 20) -> dict:
    """The project's event in the outbox (the notifier hears other tests' periods too, on the shared broker)."""
    query = "SELECT envelope FROM outbox WHERE event_type = $1 AND envelope -> 'data' ->> 'project_id' = $2"
    async with asyncio.timeout(within):
        while (envelope := await pool.fetchval(query, event_type, project)) is None:
            await asyncio.sleep(0.1)
    return envelope


async def test_the_trace_of_a_request_goes_with_its_event_through_the_consumer_to_the_invite_email_it_sends(
    infrastructure, database_for
):
    project = f"P-{uuid.uuid4().hex[:8]}"
    domain = f"{project.lower()}.example"
    draft = commitment(f"SC-{project}-D", project_id=project, status="draft")  # the notifier records InviteSkipped
    approved = commitment(
        f"SC-{project}",
        project_id=project,
        invoice_contacts=[{"user_id": f"{project}-jane", "name": "Jane Citizen", "email": f"jane@{domain}"}],
    )
    administrator = member("U-1", project_id=project, permission="admin", name="Alex Admin", email="alex@acme.example")
    periods_database, notifier_database = await database_for("periods"), await database_for("notifier")
    for database in (periods_database, notifier_database):
        async with database.pool.acquire() as connection:
            for each in (draft, approved):
                await apply_commitment(connection, each)
            await apply_member_upserted(connection, administrator, erp_event(administrator))
    periods_settings = service_settings(infrastructure, "periods", periods_database.url)
    trace_id, caller_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    async with (
        running_service(periods, periods_settings) as periods_service,
        running_service(notifier, service_settings(infrastructure, "notifier", notifier_database.url)) as mailer,
        httpx.AsyncClient(base_url=periods_service.base_url) as client,
    ):
        mailer.app.state.clock.set(NOW)
        periods_service.app.state.clock.set(NOW)
        token = issue_session_token(periods_settings, "U-1", "alex@acme.example")
        response = await client.post(
            f"/api/projects/{project}/billing-periods",
            json={"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "2026-12-05"},
            headers={"Authorization": f"Bearer {token}", "traceparent": f"00-{trace_id}-{caller_span}-01"},
        )
        assert response.status_code == 201, response.text

        opened = await envelope_of(periods_database.pool, "billing.period.opened.v1", project)
        skipped = await envelope_of(notifier_database.pool, "billing.invite.skipped.v1", project)
        [email] = await wait_for_mail_to(infrastructure.maildir, domain, 1)
        invite_sent = await envelope_of(notifier_database.pool, "billing.invite.sent.v1", project)
        async with httpx.AsyncClient(base_url=mailer.base_url) as notifier_client:
            metrics = (await notifier_client.get("/metrics")).text

    version, opened_trace, request_span, flags = opened["traceparent"].split("-")
    assert (version, opened_trace, flags) == ("00", trace_id, "01")
    assert request_span != caller_span, "the event names the request's own span, a child of the caller's"
    _, skipped_trace, handling_span, _ = skipped["traceparent"].split("-")
    assert skipped_trace == trace_id, "what the consumer recorded while handling the event is in the same trace"
    assert handling_span not in (request_span, caller_span)
    # The email the period's opening caused carries the same trace, and so does the InviteSent it led to.
    _, email_trace, sending_span, _ = email["Traceparent"].split("-")
    assert email_trace == trace_id and sending_span not in (request_span, handling_span)
    assert invite_sent["traceparent"].split("-")[1] == trace_id
    assert 'itb_emails_total{kind="invite",outcome="sent"}' in metrics
