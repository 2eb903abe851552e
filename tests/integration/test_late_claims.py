"""Asking to claim late (rule 18b) over real HTTP, PostgreSQL and Kafka: after the due date a contact asks from
the New Progress Claim page (logged in, with the page's CSRF token, once); the project's administrator allows it
until a day, and the contact creates and submits the claim; or refuses it with a reason the contact reads."""

import json
import re

import httpx
import pytest

from shared.contracts.topics import BILLING_CLAIMS
from tests.integration.claims_desk import AFTER, ALEX, JANE, RAJ, claims_desk, fill_in
from tests.support import csrf_of, topic_reader


@pytest.fixture
async def desk(infrastructure, database_for):
    async with claims_desk(infrastructure, database_for) as desk:
        yield desk


def new_claim_path(desk, commitment_id: str) -> str:
    return f"/claims/new?commitment={commitment_id}&period={desk.period_id}"


async def ask(browser: httpx.AsyncClient, desk, commitment_id: str, message: str, csrf: str | None = None):
    """The Ask … to let me claim late form sent, with the New Progress Claim page's token unless one is given."""
    if csrf is None:
        csrf = csrf_of(await browser.get(new_claim_path(desk, commitment_id)), "/claims/late-requests")
    form = {"csrf_token": csrf, "commitment": commitment_id, "period": desk.period_id, "message": message}
    return await browser.post("/claims/late-requests", data=form)


async def answer(browser: httpx.AsyncClient, request_id: str, what: str, **form: str) -> httpx.Response:
    """Allow (what="allow") or Refuse (what="refuse") pressed on the request's page."""
    path = f"/late-claim-requests/{request_id}"
    action = f"{path}/{what}"
    return await browser.post(action, data={"csrf_token": csrf_of(await browser.get(path), action), **form})


def field_error(page: httpx.Response, name: str) -> str:
    found = re.search(rf'id="{re.escape(name)}-error">([^<]*)<', page.text)
    return found.group(1) if found else ""


async def test_a_contact_asks_to_claim_late_and_once_allowed_creates_and_submits_the_claim(desk):
    other_commitment = f"{desk.project}-SC-2"
    async with topic_reader(desk.service.settings.kafka_bootstrap_servers, BILLING_CLAIMS) as reader:
        desk.at(AFTER)
        jane, alex = await desk.logged_in(JANE), await desk.logged_in(ALEX)
        page = await jane.get(desk.new_claim_url)
        assert "The due date 5 December 2026 has passed." in page.text
        assert "Ask Alex Admin to let me claim late</button>" in page.text  # the period's opener: no invite here
        token = csrf_of(page, "/claims/late-requests")

        # Logged in, with the page's token, once.
        anonymous = await desk.browser().post(
            "/claims/late-requests", data={"commitment": desk.commitment_id, "period": desk.period_id}
        )
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?")
        assert (await ask(jane, desk, desk.commitment_id, "", csrf="forged")).status_code == 403
        too_long = await ask(jane, desk, desk.commitment_id, "x" * 2001)
        assert too_long.status_code == 422 and "2,000 characters" in too_long.text
        asked = await ask(jane, desk, desk.commitment_id, "I was <b>on site</b> all week.", csrf=token)
        assert asked.status_code == 303, asked.text
        page = await jane.get(asked.headers["location"])
        assert "Your request to claim late is sent" in page.text and "You have asked Alex Admin" in page.text
        assert "to let me claim late</button>" not in page.text
        twice = await ask(jane, desk, desk.commitment_id, "Again.", csrf=token)
        assert twice.status_code == 409 and "You have asked Alex Admin already" in twice.text
        [requested] = await desk.events("billing.claim.late_claim_requested.v1")
        assert requested["message"] == "I was <b>on site</b> all week."
        assert requested["asked"]["id"] == ALEX[0] and requested["contact"]["user_id"] == JANE[0]
        request_id = requested["request_id"]

        # The administrator's page: the contact's message as text, Allow until three days later by default.
        request_page = f"/late-claim-requests/{request_id}"
        assert (await jane.get(request_page)).status_code == 403
        shown = await alex.get(request_page)
        assert shown.status_code == 200 and "I was &lt;b&gt;on site&lt;/b&gt; all week." in shown.text
        assert 'name="allowed_until" value="2026-12-09"' in shown.text  # 6 December in Sydney, plus three days
        for day, error in (("2026-12-01", "has passed"), ("2027-03-01", "within 60 days"), ("soon", "year-month")):
            refused = await answer(alex, request_id, "allow", allowed_until=day)
            assert refused.status_code == 422 and error in field_error(refused, "allowed_until"), refused.text
        token = csrf_of(await alex.get(request_page), f"{request_page}/refuse")  # a second tab, open before
        allowed = await answer(alex, request_id, "allow", allowed_until="2026-12-10")
        assert allowed.status_code == 303, allowed.text
        assert "Allowed until 10 December 2026" in (await alex.get(allowed.headers["location"])).text
        late_refusal = await alex.post(f"{request_page}/refuse", data={"csrf_token": token, "reason": "No."})
        assert late_refusal.status_code == 409 and "answered already" in late_refusal.text  # answered once
        [extended] = await desk.events("billing.claim.window_extended.v1")
        assert extended["allowed_until"] == "2026-12-10" and extended["allowed_by"]["id"] == ALEX[0]

        # Jane may now create and submit her claim; Raj, on another commitment, may not.
        page = await jane.get(desk.new_claim_url)
        assert "allowed you to claim late, until the end of 10 December 2026" in page.text
        created = await desk.create_claim(jane, csrf_of(page, "/claims/new"))
        assert created.status_code == 303, created.text
        submitted = await fill_in(jane, created.headers["location"], "submit", this_period__1="1000")
        assert submitted.status_code == 303, submitted.text
        assert len(await desk.events("billing.claim.submitted.v1")) == 1
        raj = await desk.logged_in(RAJ)
        assert (
            "The due date 5 December 2026 has passed." in (await raj.get(new_claim_path(desk, other_commitment))).text
        )

        # Raj asks too; refused with a reason (required), he reads it, escaped, on the New Progress Claim page.
        assert (await ask(raj, desk, other_commitment, "")).status_code == 303
        [_, raj_request] = await desk.events("billing.claim.late_claim_requested.v1")
        assert raj_request["message"] is None
        no_reason = await answer(alex, raj_request["request_id"], "refuse", reason="  ")
        assert no_reason.status_code == 422 and "Say why" in field_error(no_reason, "reason")
        refused = await answer(alex, raj_request["request_id"], "refuse", reason="The <i>period</i> is closing.")
        assert refused.status_code == 303, refused.text
        page = await raj.get(new_claim_path(desk, other_commitment))
        assert "refused your request to claim late: The &lt;i&gt;period&lt;/i&gt; is closing." in page.text
        assert "to let me claim late</button>" in page.text  # he may ask again
        [refusal] = await desk.events("billing.claim.late_claim_refused.v1")
        assert refusal["reason"] == "The <i>period</i> is closing." and refusal["refused_by"]["id"] == ALEX[0]

        # A draft of Raj's (made on his behalf) stays his to ask about from the claim page; allowed by API, he
        # submits it.
        async with httpx.AsyncClient(base_url=desk.service.base_url) as api:
            made = await api.post(
                f"/api/billing-periods/{desk.period_id}/commitments/{other_commitment}/claims",
                json={"contact_user_id": RAJ[0]},
                headers={"Authorization": f"Bearer {await desk.api_token(ALEX)}"},
            )
            assert made.status_code == 201, made.text
            raj_claim = f"/claims/{made.json()['claim_id']}"
            page = await raj.get(raj_claim)
            assert "to let me claim late</button>" in page.text and "The &lt;i&gt;period&lt;/i&gt;" in page.text
            asked_again = await ask(raj, desk, other_commitment, "", csrf=csrf_of(page, "/claims/late-requests"))
            assert asked_again.status_code == 303
            page = await raj.get(asked_again.headers["location"], follow_redirects=True)
            assert "Your request to claim late is sent" in page.text and "You have asked Alex Admin" in page.text
            [*_, again] = await desk.events("billing.claim.late_claim_requested.v1")
            headers = {"Authorization": f"Bearer {await desk.api_token(ALEX)}"}
            allowed = await api.post(f"/api/late-claim-requests/{again['request_id']}/allow", json={}, headers=headers)
            assert allowed.status_code == 200 and allowed.json()["allowed_until"] == "2026-12-09", allowed.text
            submitted = await fill_in(raj, raj_claim, "submit", **{f"this_period__{line}": "1" for line in ["1"]})
            assert submitted.status_code == 303, submitted.text

        # Each on billing.claims, keyed by its request.
        records = await reader.wait_for(lambda record: record.key == request_id.encode(), count=2)
        types = [json.loads(record.value)["type"] for record in records]
        assert types == ["billing.claim.late_claim_requested.v1", "billing.claim.window_extended.v1"]
