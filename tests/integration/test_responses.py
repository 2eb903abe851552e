"""The invite page and its answers over real HTTP, against the real database and broker."""

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.responses import use_cases
from services.responses.app import definition as responses
from shared import period_view
from shared.contracts.base import Person
from shared.contracts.periods import BillingPeriodClosed, BillingPeriodDueDateChanged
from shared.contracts.topics import BILLING_RESPONSES
from shared.csrf import csrf_token
from shared.erp import apply_commitment, apply_member_removed, apply_member_upserted
from shared.invite_links import invite_token
from tests.factories import commitment, erp_event, invite_sent, member, removal
from tests.support import csrf_of, running_service, service_settings, topic_reader

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
BEFORE = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
async def page(infrastructure, database_for):
    database = await database_for("responses")
    settings = service_settings(infrastructure, "responses", database.url)
    async with running_service(responses, settings) as service:
        service.app.state.clock.set(BEFORE)
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            yield InvitePage(client, service, database.pool)


class InvitePage:
    def __init__(self, client, service, pool):
        self.client = client
        self.service = service
        self.pool = pool
        self.project = f"P-{uuid.uuid4().hex[:8]}"
        self.invite_id = str(uuid.uuid4())
        self.period_id = str(uuid.uuid4())
        self.commitment_id = f"{self.project}-SC-1"

    @property
    def token(self) -> str:
        return invite_token(self.service.settings, self.invite_id)

    async def seed(self, project_name="Harbour Tower", permission="read_only"):
        contact = {"user_id": "U-9", "name": "Jane Citizen", "email": "jane@concreteco.example"}
        jane = member("U-9", project_id=self.project, permission=permission)
        sent = invite_sent(
            self.invite_id, self.period_id, self.project, self.commitment_id, contact, project_name=project_name
        )
        async with self.pool.acquire() as connection:
            await apply_commitment(
                connection, commitment(self.commitment_id, project_id=self.project, invoice_contacts=[contact])
            )
            await apply_member_upserted(connection, jane, erp_event(jane))
            await use_cases.invite_sent(connection, sent)

    async def open(self, query: str = "") -> httpx.Response:
        return await self.client.get(f"/invites/{self.token}{query}")

    async def answer(self, answer: str, csrf: str | None = None, **reason: str) -> httpx.Response:
        """The answer posted from the page; `reason` holds a No's optional fields (reason, reason_text)."""
        if csrf is None:
            csrf = csrf_of(await self.open())
        data = {"answer": answer, "csrf_token": csrf, **reason}
        return await self.client.post(f"/invites/{self.token}", data=data)

    async def events(self) -> list[str]:
        rows = await self.pool.fetch("SELECT event_type FROM outbox ORDER BY position")
        return [row["event_type"] for row in rows]


async def test_the_page_shows_the_invite_and_opening_it_changes_nothing(page):
    await page.seed()
    response = await page.open("?answer=yes")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the link's token stays on this page
    for expected in (
        "Harbour Tower",
        "SC-0042 Formwork and concrete",
        "Concrete Co Pty Ltd",
        "1 November 2026 to 30 November 2026",
        "Alex Admin",
        "5 December 2026",
        "Do you want to bill this period?",
        "You chose Yes in the email",
    ):
        assert expected in response.text
    assert await page.pool.fetchval("SELECT count(*) FROM answers") == 0
    assert await page.events() == []


async def test_no_records_the_answer_shows_a_confirmation_and_publishes_invite_declined(page, infrastructure):
    await page.seed()
    response = await page.answer("no")
    assert response.status_code == 303
    confirmation = await page.client.get(response.headers["location"])
    assert "Your response has been recorded: you will not bill this period." in confirmation.text
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_RESPONSES) as reader:
        [record] = await reader.wait_for(lambda r: json.loads(r.value)["data"]["invite_id"] == page.invite_id)
    event = json.loads(record.value)
    assert event["type"] == "billing.invite.declined.v1"
    assert event["data"]["answer"] == "no"
    assert event["data"]["contact"]["user_id"] == "U-9"
    assert event["data"]["due_at"] == "2026-12-05T13:00:00Z"
    assert event["data"]["reason"] is None  # a No needs no reason (rule 18a)


async def test_a_double_click_records_one_answer_and_one_event(page):
    await page.seed()
    csrf = csrf_of(await page.open())
    # Both clicks at once, as from two tabs or an impatient finger.
    first, second = await asyncio.gather(page.answer("no", csrf=csrf), page.answer("no", csrf=csrf))
    assert (first.status_code, second.status_code) == (303, 303)
    again = await page.answer("no", csrf=csrf)  # and a replayed POST later
    assert again.status_code == 303
    assert await page.events() == ["billing.invite.declined.v1"]


async def test_an_answer_before_the_erp_records_arrive_waits_rather_than_being_refused(page):
    await page.seed()
    async with page.pool.acquire() as connection:
        await connection.execute("DELETE FROM erp_project_members")
    response = await page.answer("no")
    assert response.status_code == 409
    assert "being prepared" in response.text
    assert await page.events() == []


async def test_no_then_yes_before_the_due_date_gives_both_events_in_order_and_yes_leads_to_the_claim(page):
    await page.seed()
    await page.answer("no")
    response = await page.answer("yes")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"http://127.0.0.1:8084/claims/new?commitment={page.commitment_id}&period={page.period_id}"
    )
    assert await page.events() == ["billing.invite.declined.v1", "billing.invite.accepted.v1"]


async def test_after_the_due_date_the_page_has_the_banner_and_no_yes_and_a_forced_yes_is_refused(page):
    await page.seed()
    page.service.app.state.clock.set(DUE_AT + timedelta(minutes=1))
    shown = await page.open("?answer=yes")
    assert "The due date has passed." in shown.text
    assert 'value="yes"' not in shown.text
    assert 'href="mailto:alex@acme.example"' in shown.text
    csrf = csrf_of(shown)
    forced = await page.answer("yes", csrf=csrf)
    assert forced.status_code == 409
    assert "no progress claim can be submitted" in forced.text
    assert await page.events() == []


async def test_a_contact_without_commitments_permission_cannot_answer_and_is_told_whom_to_ask(page):
    await page.seed()
    async with page.pool.acquire() as connection:
        await apply_member_removed(connection, removal("U-9", version=5, project_id=page.project))
    response = await page.answer("no")
    assert response.status_code == 403
    assert "Read Only (or higher) permission" in response.text
    assert "ask Alex Admin (alex@acme.example)" in response.text
    assert await page.events() == []


async def test_a_contact_taken_off_the_commitment_cannot_answer(page):
    await page.seed()
    async with page.pool.acquire() as connection:
        await apply_commitment(
            connection, commitment(page.commitment_id, version=2, project_id=page.project, invoice_contacts=[])
        )
    response = await page.answer("yes")
    assert response.status_code == 403
    assert "no longer a progress claim contact of SC-0042" in response.text


async def test_a_forged_or_altered_link_gets_a_clear_page_not_a_stack_trace(page):
    await page.seed()
    altered = ("A" if page.token[0] != "A" else "B") + page.token[1:]
    for token in (altered, "forged", page.token[:-5]):
        response = await page.client.get(f"/invites/{token}")
        assert response.status_code == 400
        assert "This invite link is not valid" in response.text
        assert "Traceback" not in response.text


async def test_a_post_without_the_csrf_token_is_refused_and_records_nothing(page):
    await page.seed()
    response = await page.client.post(f"/invites/{page.token}", data={"answer": "no"})
    assert response.status_code == 403
    assert "did not come from your invite page" in response.text
    assert await page.events() == []


async def test_names_from_the_erp_are_shown_as_text(page):
    await page.seed(project_name="<script>alert(1)</script>")
    response = await page.open()
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_an_invite_whose_email_outran_its_event_gets_a_page_that_refreshes_itself(page):
    response = await page.open()
    assert response.status_code == 202
    assert "being prepared" in response.text
    assert '<meta http-equiv="refresh" content="5">' in response.text


async def test_a_moved_due_date_moves_the_page_with_it(page):
    await page.seed()
    earlier = BillingPeriodDueDateChanged(
        period_id=page.period_id,
        project_id=page.project,
        previous_due_date=date(2026, 12, 5),
        due_date=date(2026, 11, 19),
        due_at=datetime(2026, 11, 19, 13, 0, tzinfo=UTC),
        changed_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        changed_at=BEFORE - timedelta(days=1),
    )
    async with page.pool.acquire() as connection:
        await period_view.due_date_changed(connection, earlier)
    shown = await page.open()
    assert "19 November 2026" in shown.text
    assert "The due date has passed." in shown.text


async def test_a_closed_period_says_so_and_takes_no_answer(page):
    await page.seed()
    closed = BillingPeriodClosed(
        period_id=page.period_id, project_id=page.project, closed_at=BEFORE, reason="closed_by_administrator"
    )
    async with page.pool.acquire() as connection:
        await period_view.period_closed(connection, closed)
    shown = await page.open()
    assert "This billing period is closed" in shown.text
    assert 'name="answer"' not in shown.text
    refused = await page.answer("no", csrf=csrf_token(page.service.settings, page.invite_id))
    assert refused.status_code == 409
    assert await page.events() == []


async def test_a_no_with_its_reason_publishes_it_and_a_reason_given_later_publishes_the_no_again(page, infrastructure):
    await page.seed()
    shown = await page.open()
    assert "Why not this period?" in shown.text and 'value="no_work_this_period"' in shown.text
    words = "<script>alert(1)</script> roof not ready"
    response = await page.answer("no", reason="other", reason_text=f"  {words}  ")
    assert response.status_code == 303
    confirmation = await page.client.get(response.headers["location"])
    assert "Your response has been recorded" in confirmation.text
    # Shown back as text, in the answer and in the field to change it.
    assert "<script>alert(1)</script>" not in confirmation.text
    assert "Other: &lt;script&gt;alert(1)&lt;/script&gt; roof not ready" in confirmation.text
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt; roof not ready"' in confirmation.text
    assert "Change my reason" in confirmation.text

    # The contact comes back with another reason: the No is announced again with it; the same one again is not.
    assert (await page.answer("no", reason="work_complete")).status_code == 303
    assert (await page.answer("no", reason="work_complete")).status_code == 303
    assert (await page.answer("no")).status_code == 303  # the No again without a reason keeps the one given
    assert await page.events() == ["billing.invite.declined.v1"] * 2
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_RESPONSES) as reader:
        records = await reader.wait_for(lambda r: json.loads(r.value)["data"]["invite_id"] == page.invite_id, 2)
    reasons = [json.loads(record.value)["data"]["reason"] for record in records]
    assert reasons == [{"code": "other", "text": words}, {"code": "work_complete", "text": None}]
    assert '<span class="muted">Work complete</span>' in (await page.open()).text

    # Rule 11 stands: the No becomes a Yes before the due date, and the Yes has no reason.
    assert (await page.answer("yes", reason="in_dispute")).status_code == 303
    assert await page.pool.fetchval("SELECT decline_reason FROM answers") is None
    assert await page.events() == ["billing.invite.declined.v1"] * 2 + ["billing.invite.accepted.v1"]


async def test_a_reason_refused_is_said_next_to_its_field_with_the_words_kept_and_records_nothing(page):
    await page.seed()
    refusals = (
        ({"reason": "other", "reason_text": "x" * 501}, "reason_text", "501 characters long"),
        ({"reason": "other", "reason_text": "Roof\nnot ready"}, "reason_text", "control character"),
        ({"reason": "too_busy"}, "reason", "not one of the choices"),
    )
    for fields, field, sentence in refusals:
        refused = await page.answer("no", **fields)
        assert refused.status_code == 422, fields
        error = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', refused.text)
        assert error and sentence in error.group(1), refused.text
        if field == "reason_text":
            assert 'aria-invalid="true" aria-describedby="reason_text-error"' in refused.text
            assert 'value="other" checked' in refused.text
    assert await page.events() == []
    assert await page.pool.fetchval("SELECT count(*) FROM answers") == 0

    # Without the page's token, a reason is refused like any answer.
    forged = await page.client.post(f"/invites/{page.token}", data={"answer": "no", "reason": "in_dispute"})
    assert forged.status_code == 403 and "did not come from your invite page" in forged.text
    assert await page.events() == []
