"""Input a person (or a script) should not have sent, over real HTTP, to the claim pages, the claims API and the
invite page: each gets a 4xx with a sentence next to the field or on a message page, never a 500."""

import uuid

import httpx
import pytest

from services.responses.app import definition as responses
from shared.invite_links import invite_token
from tests.integration.claims_desk import ALEX, JANE, claims_desk
from tests.integration.test_responses import InvitePage
from tests.support import csrf_of, running_service, service_settings

ODD_AMOUNTS = {
    "text": "ten dollars",
    "not a number": "NaN",
    "signalling not a number": "sNaN",
    "infinity": "Infinity",
    "an enormous exponent": "1e999",
    "a tiny exponent": "1e-999",
    "an enormous number": "9" * 5000,
    "a NUL character": "12\x0034",
    "hexadecimal": "0x10",
    "right-to-left marks": "\u202e0051",
    "mathematical digits": "\U0001d7d9\U0001d7da",
    "only a point": ".",
}


@pytest.fixture
async def desk(infrastructure, database_for):
    async with claims_desk(infrastructure, database_for) as desk:
        yield desk


def refused_clearly(response: httpx.Response, *expected: str) -> None:
    sent = f"{response.request.method} {str(response.request.url)[:200]}"
    assert 400 <= response.status_code < 500, (sent, response.status_code, response.text[:500])
    for text in expected:
        assert text in response.text, (sent, text)


async def claim_of(desk) -> tuple[httpx.AsyncClient, str, str]:
    """Jane's browser, her claim's path and the claim form's CSRF token."""
    browser, claim_path = await desk.open_claim(JANE)
    return browser, claim_path, csrf_of(await browser.get(claim_path), claim_path)


# --- The claim page ---


async def test_an_amount_that_is_not_one_gets_a_message_next_to_its_field(desk):
    browser, claim_path, csrf = await claim_of(desk)
    for odd, typed in ODD_AMOUNTS.items():
        response = await browser.post(claim_path, data={"csrf_token": csrf, "action": "save", "this_period.1": typed})
        assert response.status_code == 422, (odd, response.text[:500])
        assert 'id="this_period.1-error"' in response.text, odd
    assert await desk.pool.fetchval("SELECT count(*) FROM claim_lines") == 0


async def test_a_repeated_missing_or_unknown_field_is_no_server_error(desk):
    browser, claim_path, csrf = await claim_of(desk)
    repeated = await browser.post(
        claim_path,
        content=f"csrf_token={csrf}&action=save&this_period.1=10&this_period.1=ten&action=submit".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code in (303, 422)
    unknown_line = await browser.post(claim_path, data={"csrf_token": csrf, "action": "save", "this_period.99": "5"})
    assert unknown_line.status_code == 303  # no such line: nothing to save for it
    no_action = await browser.post(claim_path, data={"csrf_token": csrf})
    assert no_action.status_code == 303  # saved, not submitted
    assert await desk.events("billing.claim.submitted.v1") == []


async def test_a_file_sent_in_place_of_a_field_is_refused(desk):
    browser, claim_path, csrf = await claim_of(desk)
    as_amount = await browser.post(
        claim_path, data={"csrf_token": csrf, "action": "save"}, files={"this_period.1": ("a.txt", b"100")}
    )
    assert as_amount.status_code == 422 and 'id="this_period.1-error"' in as_amount.text
    as_token = await browser.post(claim_path, data={"action": "save"}, files={"csrf_token": ("t.txt", csrf.encode())})
    refused_clearly(as_token, "Please use the claim page")


async def test_a_body_that_is_not_a_form_is_refused(desk):
    browser, claim_path, _ = await claim_of(desk)
    broken = await browser.post(
        claim_path, content=b"--x\r\nnot a part", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    refused_clearly(broken)
    as_json = await browser.post(claim_path, json={"action": "submit"})
    refused_clearly(as_json, "Please use the claim page")


async def test_a_claim_path_that_names_nothing_gets_a_message_page(desk):
    browser = await desk.logged_in(JANE)
    for path in ("/claims/%00", "/claims/" + "9" * 3000, "/claims/%F0%9F%92%A5", "/claims/new?commitment=&period=x"):
        response = await browser.get(path)
        refused_clearly(response)
        assert response.headers["content-type"].startswith("text/html"), path
        posted = await browser.post(path.split("?")[0], data={"csrf_token": "x", "commitment": "\x00", "period": "x"})
        refused_clearly(posted)


async def test_a_new_claim_links_waiting_count_that_is_not_one_is_no_server_error(desk):
    browser = await desk.logged_in(JANE)
    for waited in ("soon", "9" * 400, "-1", "1e3"):
        response = await browser.get(desk.new_claim_url + f"&waited={waited}", headers={"Accept": "text/html"})
        assert response.status_code < 500, (waited, response.text[:500])
        assert response.headers["content-type"].startswith("text/html"), waited  # a page, as a browser asked for


async def test_the_new_claim_form_with_odd_fields_is_refused(desk):
    browser = await desk.logged_in(JANE)
    csrf = csrf_of(await browser.get(desk.new_claim_url), "/claims/new")
    for commitment, period in (
        ("\x00", desk.period_id),
        (desk.commitment_id, "\x00"),
        ("x" * 10_000, desk.period_id),
        (desk.commitment_id, str(uuid.uuid4())),
    ):
        response = await desk.create_claim(browser, csrf, commitment, period)
        refused_clearly(response)
    assert await desk.claims() == 0


# --- The claims API ---


ODD_SESSION_BODIES = {
    "not JSON": b"not json",
    "wrong types": b'{"email": 12, "password": ["x"]}',
    "NaN": b'{"email": "jane@example.com", "password": NaN}',
    "a missing field": b'{"email": "jane@example.com"}',
    "a NUL character": b'{"email": "jane\\u0000@example.com", "password": "x"}',
    "an enormous email": b'{"email": "' + b"a" * 5000 + b'@example.com", "password": "x"}',
    "a list": b"[]",
    "empty": b"",
}


async def test_the_sessions_api_refuses_odd_bodies_with_a_sentence(desk):
    async with httpx.AsyncClient(base_url=desk.service.base_url) as client:
        for odd, body in ODD_SESSION_BODIES.items():
            response = await client.post("/api/sessions", content=body, headers={"Content-Type": "application/json"})
            refused_clearly(response)
            assert response.json()["detail"], odd


async def test_the_on_behalf_api_refuses_odd_contacts_with_a_sentence(desk):
    token = await desk.api_token(ALEX)
    async with httpx.AsyncClient(base_url=desk.service.base_url) as client:
        for contact_user_id in ("\x00", "U-9\x00", "x" * 10_000, "\ud7ff\ufeff", 42, None):
            response = await client.post(
                f"/api/billing-periods/{desk.period_id}/commitments/{desk.commitment_id}/claims",
                json={"contact_user_id": contact_user_id},
                headers={"Authorization": f"Bearer {token}"},
            )
            refused_clearly(response)
            assert response.json()["detail"], contact_user_id
    assert await desk.claims() == 0


async def test_the_api_refuses_paths_that_name_nothing(desk):
    token = await desk.api_token(ALEX)
    async with httpx.AsyncClient(base_url=desk.service.base_url) as client:
        for path in ("/api/claims/%00", "/api/billing-periods/%00/claims", "/api/claims/" + "f" * 3000):
            refused_clearly(await client.get(path, headers={"Authorization": f"Bearer {token}"}))


# --- The invite page ---


@pytest.fixture
async def invite_page(infrastructure, database_for):
    database = await database_for("responses")
    settings = service_settings(infrastructure, "responses", database.url)
    async with running_service(responses, settings) as service:
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            page = InvitePage(client, service, database.pool)
            await page.seed()
            yield page


async def test_an_answer_that_is_not_yes_or_no_gets_a_message_page(invite_page):
    csrf = csrf_of(await invite_page.open())
    for form in ({"answer": "maybe"}, {"answer": "yes\x00"}, {"answer": "\u202eyes"}, {}, {"answer": "x" * 50_000}):
        response = await invite_page.client.post(f"/invites/{invite_page.token}", data={"csrf_token": csrf, **form})
        refused_clearly(response, "Please choose Yes or No")
    assert await invite_page.events() == []


async def test_a_repeated_answer_or_a_file_for_one_is_no_server_error(invite_page):
    csrf = csrf_of(await invite_page.open())
    repeated = await invite_page.client.post(
        f"/invites/{invite_page.token}",
        content=f"csrf_token={csrf}&answer=no&answer=maybe".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    refused_clearly(repeated)
    as_file = await invite_page.client.post(
        f"/invites/{invite_page.token}", data={"csrf_token": csrf}, files={"answer": ("a.txt", b"no")}
    )
    refused_clearly(as_file)
    assert as_file.headers["content-type"].startswith("text/html")
    assert await invite_page.events() == []


async def test_an_invite_link_that_is_not_one_gets_a_message_page(invite_page):
    for token in ("%00", "x" * 3000, "%F0%9F%92%A5", "..%2F..%2Fetc"):
        refused_clearly(await invite_page.client.get(f"/invites/{token}"))
        answered = await invite_page.client.post(f"/invites/{token}", data={"answer": "yes", "csrf_token": "x"})
        refused_clearly(answered)


async def test_a_csrf_token_that_is_not_one_is_refused_with_the_page(invite_page):
    for csrf in ("\x00", "x" * 10_000, invite_token(invite_page.service.settings, str(uuid.uuid4()))):
        response = await invite_page.client.post(
            f"/invites/{invite_page.token}", data={"answer": "yes", "csrf_token": csrf}
        )
        refused_clearly(response, "Please answer from the invite page")
    assert await invite_page.events() == []
