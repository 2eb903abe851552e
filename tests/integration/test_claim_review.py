"""Reviewing progress claims (rule 18) over real HTTP, PostgreSQL and Kafka: the administrators' review page,
Approve and Send back to revise on the claim page and by API, a claim resubmitted after the due date until the
day the administrator chose, each submission kept as a revision, and what later claims carry forward."""

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.claims.domain.claims import resubmit_deadline
from shared import period_view
from shared.contracts.topics import BILLING_CLAIMS
from tests.integration.claims_desk import AFTER, ALEX, JANE, RAJ, claims_desk, fill_in
from tests.support import csrf_of, topic_reader

SYDNEY = "Australia/Sydney"


@pytest.fixture
async def desk(infrastructure, database_for):
    async with claims_desk(infrastructure, database_for) as desk:
        yield desk


async def submitted_claim(desk, **amounts: str) -> tuple[httpx.AsyncClient, str]:
    """Jane's browser and her claim's path, the claim submitted with `amounts` (30,000 of footings by default)."""
    browser, claim_path = await desk.open_claim(JANE)
    submitted = await fill_in(browser, claim_path, "submit", **(amounts or {"this_period__1": "30000"}))
    assert submitted.status_code == 303, submitted.text
    return browser, claim_path


async def review(client: httpx.AsyncClient, claim_path: str, what: str, **form: str) -> httpx.Response:
    """Approve (what="approval") or Send back to revise (what="revision-request") pressed on the claim page."""
    page = await client.get(claim_path)
    action = f"{claim_path}/{what}"
    return await client.post(action, data={"csrf_token": csrf_of(page, action), **form})


def field_error(page: httpx.Response, name: str) -> str:
    found = re.search(rf'id="{re.escape(name)}-error">([^<]*)<', page.text)
    return found.group(1) if found else ""


async def test_a_claim_sent_back_is_resubmitted_after_the_due_date_as_revision_2_and_approved(desk):
    async with topic_reader(desk.service.settings.kafka_bootstrap_servers, BILLING_CLAIMS) as reader:
        jane, claim_path = await submitted_claim(desk)
        claim_id = claim_path.rsplit("/", 1)[1]
        alex = await desk.logged_in(ALEX)
        board = await alex.get(f"/billing-periods/{desk.period_id}/review")
        assert board.status_code == 200
        assert "Submitted, under review" in board.text and 'data-label="Revision">1<' in board.text
        assert "AUD 28,500.00" in board.text  # 30,000 less 5% retention

        page = await alex.get(claim_path)
        assert "Approve</button>" in page.text and "Send back to revise</button>" in page.text
        assert 'name="resubmit_by" value="2026-11-25"' in page.text  # five days after 20 November in Sydney

        desk.at(AFTER)  # the due date has passed; the administrator chooses a day after it
        sent_back = await review(
            alex,
            claim_path,
            "revision-request",
            reason="<b>Footings</b> are not finished.",
            resubmit_by="2026-12-10",
            **{"note.1": "Half of them, by the site report.", "note.2": " "},
        )
        assert sent_back.status_code == 303, sent_back.text
        assert "sent back to revise" in (await alex.get(sent_back.headers["location"])).text
        [requested] = await desk.events("billing.claim.revision_requested.v1")
        assert requested["reason"] == "<b>Footings</b> are not finished."
        assert requested["line_notes"] == {"1": "Half of them, by the site report."}
        assert requested["resubmit_by"] == "2026-12-10" and requested["revision"] == 1
        assert requested["commitment_number"] == desk.commitment_id and requested["project_name"] == "Harbour Tower"
        assert requested["reviewed_by"]["id"] == ALEX[0] and requested["contact"]["user_id"] == JANE[0]

        # Jane, after the due date, reads why and changes the claim: rule 15 does not stop the same claim.
        mine = await jane.get(claim_path)
        assert "&lt;b&gt;Footings&lt;/b&gt; are not finished." in mine.text and "<b>Footings" not in mine.text
        assert "Half of them, by the site report." in mine.text and "10 December 2026" in mine.text
        assert "Resubmit</button>" in mine.text and "The due date has passed.</strong>" not in mine.text
        resubmitted = await fill_in(jane, claim_path, "submit", this_period__1="15000")
        assert resubmitted.status_code == 303, resubmitted.text
        first, second = await desk.events("billing.claim.submitted.v1")
        assert (first["revision"], second["revision"]) == (1, 2)
        assert second["totals"]["total_completed_and_stored"] == "15000.00"
        revisions = await desk.pool.fetch(
            """
            SELECT r.revision, r.outcome, l.this_period FROM claim_revisions r JOIN claim_revision_lines l
            USING (claim_id, revision) WHERE claim_id = $1 AND line_id = '1' ORDER BY revision
            """,
            uuid.UUID(claim_id),
        )
        assert [(r["revision"], r["outcome"], r["this_period"]) for r in revisions] == [
            (1, "revise_and_resubmit", 30000),
            (2, None, 15000),
        ]
        assert 'data-label="Revision">2<' in (await alex.get(f"/billing-periods/{desk.period_id}/review")).text

        approved = await review(alex, claim_path, "approval")
        assert approved.status_code == 303
        again = await alex.post(
            f"{claim_path}/approval", data={"csrf_token": csrf_of(await alex.get(claim_path), claim_path)}
        )
        assert again.status_code == 303  # a second click finds it approved and announces nothing new
        [approval] = await desk.events("billing.claim.approved.v1")
        assert approval["revision"] == 2 and approval["totals"]["current_payment_due"] == "14250.00"
        assert "Approved (revision 2)" in (await jane.get(claim_path)).text
        assert (await fill_in(jane, claim_path, "save", this_period__1="1")).status_code == 409

        # The outbox put each on billing.claims, keyed by the claim.
        records = await reader.wait_for(lambda record: record.key == claim_id.encode(), count=5)
        types = [json.loads(record.value)["type"] for record in records]
        assert types == [
            "billing.claim.created.v1",
            "billing.claim.submitted.v1",
            "billing.claim.revision_requested.v1",
            "billing.claim.submitted.v1",
            "billing.claim.approved.v1",
        ]


async def test_after_the_day_to_resubmit_by_the_contact_is_refused_and_told_whom_to_ask(desk):
    jane, claim_path = await submitted_claim(desk)
    token = await desk.api_token(ALEX)
    async with httpx.AsyncClient(base_url=desk.service.base_url) as api:
        sent_back = await api.post(
            f"/api{claim_path}/revision-request",
            json={"reason": "Attach the site report.", "resubmit_by": "2026-11-22"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert sent_back.status_code == 200, sent_back.text
    assert sent_back.json()["status"] == "revise_and_resubmit" and sent_back.json()["resubmit_by"] == "2026-11-22"
    end = resubmit_deadline(date(2026, 11, 22), SYDNEY)  # midnight in Sydney: 13:00 UTC on the 22nd
    desk.at(end - timedelta(seconds=1))
    assert (await fill_in(jane, claim_path, "save", this_period__1="100")).status_code == 303
    desk.at(end)
    page = await jane.get(claim_path)
    assert "The day to resubmit this claim by, 22 November 2026, has passed." in page.text
    assert f"Ask {ALEX[1]} ({desk.email(ALEX)})" in page.text and "Resubmit</button>" not in page.text
    refused = await jane.post(
        claim_path, data={"csrf_token": csrf_of(page, claim_path), "action": "submit", "this_period.1": "100"}
    )
    assert refused.status_code == 409 and "send it back again with a later day" in refused.text
    assert len(await desk.events("billing.claim.submitted.v1")) == 1
    assert await desk.events("billing.claim.attempt_rejected.v1") == []  # no new claim was attempted (rule 15)


async def test_a_later_claim_follows_the_earlier_claims_submitted_then_approved_revision(desk):
    jane, november = await submitted_claim(desk, this_period__1="30000")
    alex = await desk.logged_in(ALEX)
    assert (await review(alex, november, "revision-request", reason="Too much.")).status_code == 303
    assert (await fill_in(jane, november, "save", this_period__1="10000")).status_code == 303  # not resubmitted

    december_id = str(uuid.uuid4())
    opened = desk.period_opened(
        december_id, date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 5), datetime(2027, 1, 5, 13, tzinfo=UTC)
    )
    async with desk.pool.acquire() as connection:
        await period_view.period_opened(connection, opened)
    november_period, desk.period_id = desk.period_id, december_id
    _, december = await desk.open_claim(JANE)
    page = await jane.get(december)
    assert re.search(r'id="less-previous">28,500.00<', page.text)  # revision 1 as submitted, not the draft

    desk.period_id = november_period
    assert (await fill_in(jane, november, "submit", this_period__1="20000")).status_code == 303
    assert (await review(alex, november, "approval")).status_code == 303
    page = await jane.get(december)
    assert re.search(r"Work completed in previous claims\">20,000.00<", page.text)
    assert re.search(r'id="less-previous">19,000.00<', page.text)  # the approved revision 2


async def test_only_the_projects_administrators_review_and_only_a_claim_under_review(desk):
    jane, claim_path = await desk.open_claim(JANE)
    claim_id = claim_path.rsplit("/", 1)[1]
    alex = await desk.logged_in(ALEX)
    # A draft is not reviewed: the page shows no review forms, and the API says why.
    assert "Send back to revise" not in (await alex.get(claim_path)).text
    token = {"Authorization": f"Bearer {await desk.api_token(ALEX)}"}
    async with httpx.AsyncClient(base_url=desk.service.base_url, headers=token) as api:
        draft = await api.post(f"/api/claims/{claim_id}/approval")
        assert draft.status_code == 409 and "only a submitted claim under review" in draft.text
    assert (await fill_in(jane, claim_path, "submit", this_period__1="100")).status_code == 303

    # The contact, and a contact of another commitment, are refused; the page's token is bound to the person.
    jane_page = await jane.get(claim_path)
    assert "Approve</button>" not in jane_page.text
    for path in ("approval", "revision-request"):
        mine = await jane.post(
            f"{claim_path}/{path}", data={"csrf_token": csrf_of(jane_page, claim_path), "reason": "x"}
        )
        assert mine.status_code == 403, path
        stolen = await alex.post(
            f"{claim_path}/{path}", data={"csrf_token": csrf_of(jane_page, claim_path), "reason": "x"}
        )
        assert stolen.status_code == 403 and "Please use the claim page" in stolen.text
        without = await alex.post(f"{claim_path}/{path}", data={"reason": "x"})
        assert without.status_code == 403
    raj = await desk.logged_in(RAJ)
    assert (await raj.get(f"/billing-periods/{desk.period_id}/review")).status_code == 403
    assert (await jane.get(f"/billing-periods/{desk.period_id}/review")).status_code == 403
    async with httpx.AsyncClient(base_url=desk.service.base_url) as api:
        jane_token = {"Authorization": f"Bearer {await desk.api_token(JANE)}"}
        assert (await api.post(f"/api/claims/{claim_id}/approval", headers=jane_token)).status_code == 403
        assert (await api.post(f"/api/claims/{claim_id}/approval")).status_code == 401
    assert await desk.events("billing.claim.approved.v1") == []
    assert await desk.events("billing.claim.revision_requested.v1") == []


async def test_odd_review_input_gets_a_message_next_to_its_field_never_a_server_error(desk):
    _, claim_path = await submitted_claim(desk)
    claim_id = claim_path.rsplit("/", 1)[1]
    alex = await desk.logged_in(ALEX)
    cases = [
        ({"reason": "  "}, "reason", "Say why the claim is sent back"),
        ({"reason": "x" * 5000}, "reason", "Keep the reason to 4,000 characters"),
        ({"reason": "Why", "resubmit_by": "2026-11-19"}, "resubmit_by", "this one has passed"),
        ({"reason": "Why", "resubmit_by": "2027-11-21"}, "resubmit_by", "within a year"),
        ({"reason": "Why", "resubmit_by": "2026-02-30"}, "resubmit_by", "year-month-day"),
        ({"reason": "Why", "resubmit_by": "\x00"}, "resubmit_by", "year-month-day"),
        ({"reason": "Why", "note.9": "No such line"}, "note.9", "has no schedule of values line 9"),
        ({"reason": "Why", "note.1": "y" * 3000}, "note.1", "Keep a note to 2,000 characters"),
    ]
    for form, field, expected in cases:
        answer = await review(alex, claim_path, "revision-request", **form)
        assert answer.status_code == 422, (form, answer.text[:300])
        if field != "note.9":  # no such field on the page to show it next to: the banner says it
            assert expected in field_error(answer, field), (form, field_error(answer, field))
        assert expected in answer.text
    # What was typed is shown again.
    answer = await review(alex, claim_path, "revision-request", reason="<i>Kept</i>", resubmit_by="1999-01-01")
    assert "&lt;i&gt;Kept&lt;/i&gt;</textarea>" in answer.text and 'value="1999-01-01"' in answer.text

    token = {"Authorization": f"Bearer {await desk.api_token(ALEX)}"}
    async with httpx.AsyncClient(base_url=desk.service.base_url, headers=token) as api:
        for body in (
            {},
            {"reason": ""},
            {"reason": "Why", "resubmit_by": "not a day"},
            {"reason": "Why", "line_notes": ["a list"]},
            {"reason": "Why", "line_notes": {"1": 5}},
            {"reason": "Why", "resubmit_by": "2020-01-01"},
        ):
            answer = await api.post(f"/api/claims/{claim_id}/revision-request", json=body)
            assert answer.status_code == 422, (body, answer.text)
        for odd_id in ("not-a-uuid", str(uuid.uuid4()), "%00"):
            answer = await api.post(f"/api/claims/{odd_id}/approval")
            assert answer.status_code == 404, (odd_id, answer.text)
    for odd_period in ("not-a-uuid", str(uuid.uuid4())):
        answer = await alex.get(f"/billing-periods/{odd_period}/review")
        assert answer.status_code == 404, (odd_period, answer.text[:300])
    odd = await alex.post("/claims/not-a-uuid/approval", data={})
    assert odd.status_code == 404
    assert await desk.events("billing.claim.revision_requested.v1") == []


async def test_reviews_sent_at_once_make_one_decision_announced_once(desk):
    _, claim_path = await submitted_claim(desk)
    claim_id = claim_path.rsplit("/", 1)[1]
    token = {"Authorization": f"Bearer {await desk.api_token(ALEX)}"}
    async with httpx.AsyncClient(base_url=desk.service.base_url, headers=token, timeout=30) as api:
        approval = f"/api/claims/{claim_id}/approval"
        sending_back = f"/api/claims/{claim_id}/revision-request"
        answers = await asyncio.gather(
            api.post(approval), api.post(approval), api.post(sending_back, json={"reason": "Why?"})
        )
    statuses = sorted(answer.status_code for answer in answers)
    decided = await desk.pool.fetchval("SELECT status FROM claims WHERE claim_id = $1", uuid.UUID(claim_id))
    if decided == "approved":  # the approvals came first: the second finds it approved, the request is refused
        assert statuses == [200, 200, 409]
        assert len(await desk.events("billing.claim.approved.v1")) == 1
        assert await desk.events("billing.claim.revision_requested.v1") == []
    else:  # the request came first: both approvals are refused
        assert decided == "revise_and_resubmit" and statuses == [200, 409, 409]
        assert await desk.events("billing.claim.approved.v1") == []
        assert len(await desk.events("billing.claim.revision_requested.v1")) == 1
