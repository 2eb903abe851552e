"""The claims service over real HTTP and PostgreSQL: login, the claim page, the due date, claims made on a
contact's behalf, and who may do what (rule 19). ERP records and periods are stored through the service's
own handlers here; tests/integration/test_claims_events.py sends them through Kafka."""

import asyncio
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.claims.domain import accounts
from services.claims.pages import claims as claim_pages
from services.claims.use_cases import accounts as account_use_cases
from services.claims.use_cases import claims as claim_use_cases
from shared import period_view
from shared.contracts.base import Person
from shared.erp import apply_commitment
from shared.invite_links import invite_url
from tests.factories import commitment, invite_sent
from tests.integration.claims_desk import (
    AFTER,
    ALEX,
    BEFORE,
    JANE,
    NELL,
    PASSWORD,
    RAJ,
    claims_desk,
    fill_in,
    log_in,
)
from tests.support import csrf_of


@pytest.fixture
async def desk(infrastructure, database_for):
    async with claims_desk(infrastructure, database_for) as desk:
        yield desk


# --- Logging in ---


async def test_the_claim_link_asks_for_login_and_returns_there_after_it(desk):
    browser = desk.browser()
    asked = await browser.get(desk.new_claim_url)
    assert asked.status_code == 303
    assert asked.headers["location"].startswith("/login?next=")
    login_page = await browser.get(asked.headers["location"])
    assert "Log in to make your progress claim" in login_page.text
    logged_in = await log_in(browser, desk.email(JANE), PASSWORD, next=desk.new_claim_url)
    assert logged_in.headers["location"] == desk.new_claim_url
    cookie = logged_in.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    claim = await browser.get(desk.new_claim_url)
    assert claim.status_code == 200
    assert f"New Progress Claim: {desk.commitment_id}" in claim.text and "Create progress claim" in claim.text


# --- Creating the claim ---


async def test_opening_the_new_claim_page_changes_nothing_and_its_button_creates_the_draft(desk):
    browser = await desk.logged_in(JANE)
    page = await browser.get(desk.new_claim_url)
    assert page.status_code == 200
    for expected in ("Harbour Tower", "SC-1", "1 November 2026 to 30 November 2026", "5 December 2026"):
        assert expected in page.text
    assert await desk.claims() == 0 and await desk.events("billing.claim.created.v1") == []
    created = await desk.create_claim(browser, csrf_of(page, "/claims/new"))
    assert created.status_code == 303 and created.headers["location"].startswith("/claims/")
    assert await desk.claims() == 1
    # Opened again once the claim exists, the link leads to the claim itself.
    again = await browser.get(desk.new_claim_url)
    assert again.status_code == 303 and again.headers["location"] == created.headers["location"]


async def test_a_double_click_on_create_makes_one_claim(desk):
    browser = await desk.logged_in(JANE)
    csrf = csrf_of(await browser.get(desk.new_claim_url), "/claims/new")
    first, second = await asyncio.gather(desk.create_claim(browser, csrf), desk.create_claim(browser, csrf))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await desk.claims() == 1
    assert len(await desk.events("billing.claim.created.v1")) == 1


async def test_creating_a_claim_needs_the_pages_csrf_token_for_this_user(desk):
    browser = await desk.logged_in(JANE)
    assert (await desk.create_claim(browser, "")).status_code == 403
    raj = await desk.logged_in(RAJ)
    rajs_token = csrf_of(await raj.get("/claims"), "/logout")  # a token of his, for another form
    assert (await desk.create_claim(browser, rajs_token)).status_code == 403
    anonymous = await desk.create_claim(desk.browser(), "")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    assert await desk.claims() == 0


async def test_a_login_link_cannot_send_anyone_to_another_site(desk):
    response = await log_in(desk.browser(), desk.email(JANE), PASSWORD, next="//evil.example/claims")
    assert response.headers["location"] == "/claims"


async def test_a_wrong_password_and_an_unknown_email_are_refused_alike(desk):
    wrong = await log_in(desk.browser(), desk.email(JANE), "not the password")
    unknown = await log_in(desk.browser(), f"nobody@{desk.domain}", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert accounts.WRONG_LOGIN in wrong.text and accounts.WRONG_LOGIN in unknown.text
    api = httpx.AsyncClient(base_url=desk.service.base_url)
    desk.clients.append(api)
    by_api = await api.post("/api/sessions", json={"email": f"nobody@{desk.domain}", "password": "x"})
    assert by_api.status_code == 401 and by_api.json()["detail"] == accounts.WRONG_LOGIN


async def test_login_is_throttled_per_account_even_with_the_right_password(desk):
    for _ in range(accounts.FAILURES_PER_ACCOUNT):
        assert (await log_in(desk.browser(), desk.email(JANE), "guess")).status_code == 401
    throttled = await log_in(desk.browser(), desk.email(JANE), PASSWORD)
    assert throttled.status_code == 429
    assert "Too many attempts" in throttled.text
    # Another account from the same address is not locked out by Jane's.
    assert (await log_in(desk.browser(), desk.email(RAJ), PASSWORD)).status_code == 303
    # The operator sees it in the metrics: the wrong passwords, and the lockout of an account.
    metrics = (await desk.browser().get("/metrics")).text
    assert f"itb_logins_refused_total {float(accounts.FAILURES_PER_ACCOUNT)}" in metrics
    assert 'itb_login_lockouts_total{locked="account"} 1.0' in metrics
    desk.at(BEFORE + accounts.THROTTLE_WINDOW + timedelta(seconds=1))
    assert (await log_in(desk.browser(), desk.email(JANE), PASSWORD)).status_code == 303


async def test_attempts_sent_all_at_once_are_counted_too(desk):
    guesses = [log_in(desk.browser(), desk.email(JANE), f"guess {number}") for number in range(12)]
    answers = await asyncio.gather(*guesses)
    assert sum(answer.status_code == 401 for answer in answers) == accounts.FAILURES_PER_ACCOUNT
    assert (await log_in(desk.browser(), desk.email(JANE), PASSWORD)).status_code == 429


async def test_login_is_throttled_per_address_across_accounts(desk):
    for number in range(accounts.FAILURES_PER_ADDRESS):
        await log_in(desk.browser(), f"guess{number}@{desk.domain}", "guess")
    assert (await log_in(desk.browser(), desk.email(RAJ), PASSWORD)).status_code == 429


async def test_logging_out_ends_the_session(desk):
    browser = await desk.logged_in(JANE)
    page = await browser.get("/claims")
    assert "My invites and claims" in page.text
    assert (await browser.post("/logout", data={})).status_code == 403  # no CSRF token
    logged_out = await browser.post("/logout", data={"csrf_token": csrf_of(page, "/logout")})
    assert logged_out.status_code == 303
    assert (await browser.get("/claims")).headers["location"].startswith("/login")


# --- Setting a password by emailed link ---


async def test_a_password_link_is_announced_only_for_a_known_email_and_the_page_says_the_same(desk):
    browser = desk.browser()
    form = await browser.get("/password/new")
    known = await browser.post("/password/new", data={"email": desk.email(RAJ), "csrf_token": csrf_of(form)})
    unknown = await browser.post("/password/new", data={"email": f"who@{desk.domain}", "csrf_token": csrf_of(form)})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace(desk.email(RAJ), "EMAIL") == unknown.text.replace(f"who@{desk.domain}", "EMAIL")
    [requested] = await desk.events("accounts.password_link_requested.v1")
    assert requested["user_id"] == RAJ[0] and requested["email"] == desk.email(RAJ)
    assert "token" not in str(requested)


async def test_a_password_link_sets_the_password_once_and_logs_in(desk):
    from shared.password_links import password_link_token

    await account_use_cases.request_password_link(desk.pool, desk.email(RAJ), "127.0.0.1", BEFORE)
    [requested] = await desk.events("accounts.password_link_requested.v1")
    link = f"/password/{password_link_token(desk.service.settings, requested['request_id'], desk.email(RAJ))}"
    # The same request sent to another address (by someone who could write to the topic) opens nothing.
    elsewhere = password_link_token(desk.service.settings, requested["request_id"], f"thief@{desk.domain}")
    stolen = await desk.browser().get(f"/password/{elsewhere}")
    assert stolen.status_code == 410 and "not sent to this account" in stolen.text
    browser = desk.browser()
    form = await browser.get(link)
    assert form.status_code == 200
    forged = await browser.post(link, data={"password": "a long enough one", "confirmation": "a long enough one"})
    assert forged.status_code == 403
    short = await browser.post(link, data={"password": "short", "confirmation": "short", "csrf_token": csrf_of(form)})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    new_password = "a much better password"
    done = await browser.post(
        link, data={"password": new_password, "confirmation": new_password, "csrf_token": csrf_of(form)}
    )
    assert done.status_code == 303
    assert "Your password is set" in (await browser.get(done.headers["location"])).text
    assert (await log_in(desk.browser(), desk.email(RAJ), new_password)).status_code == 303
    again = await desk.browser().get(link)
    assert again.status_code == 410 and "used already or has expired" in again.text
    altered = await desk.browser().get(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    assert altered.status_code == 400


# --- Who may make the claim (rule 19) ---


async def test_the_right_contact_gets_the_claim_page_with_the_commitments_lines(desk):
    browser, claim_path = await desk.open_claim(JANE)
    page = await browser.get(claim_path)
    assert page.status_code == 200
    for expected in ("SC-1", "Footings", "125,000.00", "&lt;script&gt;Walls&lt;/script&gt;", "Save draft", "Submit"):
        assert expected in page.text
    assert "<script>Walls" not in page.text
    [created] = await desk.events("billing.claim.created.v1")
    assert created["cause"] == "claim_page" and created["on_behalf"] is False
    assert created["contact"]["user_id"] == JANE[0]


@pytest.mark.parametrize("user", [RAJ, NELL], ids=["contact of another commitment", "no Commitments permission"])
async def test_others_are_refused_with_a_clear_page(desk, user):
    browser = await desk.logged_in(user)
    response = await browser.get(desk.new_claim_url)
    assert response.status_code == 403
    assert "You cannot make this progress claim" in response.text
    assert "Read Only" in response.text
    jane = await desk.logged_in(JANE)  # a page that was never theirs to open: its token is not theirs either
    assert (
        await desk.create_claim(browser, csrf_of(await jane.get(desk.new_claim_url), "/claims/new"))
    ).status_code == 403
    assert await desk.claims() == 0


async def test_an_administrator_sees_the_contacts_claim_but_does_not_make_one_by_opening_the_link(desk):
    administrator = await desk.logged_in(ALEX)
    before = await administrator.get(desk.new_claim_url)
    assert before.status_code == 404 and "on a contact&#39;s behalf" in before.text
    _, claim_path = await desk.open_claim(JANE)
    assert (await administrator.get(claim_path)).status_code == 200
    assert (await (await desk.logged_in(RAJ)).get(claim_path)).status_code == 403


# --- Filling in and submitting ---


async def test_the_money_is_worked_out_on_the_server_and_submitting_announces_it(desk):
    browser, claim_path = await desk.open_claim(JANE)
    saved = await fill_in(browser, claim_path, "save", this_period__1="30,000", stored__1="2500", this_period__2="8000")
    assert saved.status_code == 303
    page = await browser.get(saved.headers["location"])
    assert "Your draft has been saved" in page.text
    assert re.search(r'id="total-completed">40,500.00<', page.text)
    assert re.search(r'id="retention">2,025.00<', page.text)
    assert re.search(r'id="current-payment-due">AUD 38,475.00<', page.text)
    submitted = await fill_in(
        browser, claim_path, "submit", this_period__1="30000.00", stored__1="2500.00", this_period__2="8000.00"
    )
    assert submitted.status_code == 303
    page = await browser.get(submitted.headers["location"])
    assert "Submitted, under review" in page.text and "Submit</button>" not in page.text
    [event] = await desk.events("billing.claim.submitted.v1")
    assert event["totals"] == {
        "currency": "AUD",
        "total_completed_and_stored": "40500.00",
        "retention": "2025.00",
        "total_earned_less_retention": "38475.00",
        "less_previous_claims": "0.00",
        "current_payment_due": "38475.00",
    }
    assert event["submitted_by"]["id"] == JANE[0]
    # A second click on Submit (or the page sent again) finds it submitted and announces nothing new.
    again = await browser.post(claim_path, data={"csrf_token": csrf_of(page, claim_path), "action": "submit"})
    assert again.status_code == 303 and len(await desk.events("billing.claim.submitted.v1")) == 1
    changed = await browser.post(
        claim_path, data={"csrf_token": csrf_of(page, claim_path), "action": "save", "this_period.1": "1"}
    )
    assert changed.status_code == 409 and "can no longer be changed" in changed.text


async def test_amounts_that_cannot_be_claimed_get_a_message_next_to_the_field_and_nothing_is_saved(desk):
    browser, claim_path = await desk.open_claim(JANE)
    response = await fill_in(
        browser, claim_path, "submit", this_period__1="-5", stored__1="ten", this_period__2="80000.01"
    )
    assert response.status_code == 422
    assert re.search(r'id="this_period.1-error">Enter an amount of zero or more', response.text)
    assert re.search(r'id="stored.1-error">Enter an amount with at most two digits', response.text)
    assert 'value="-5"' in response.text  # what was typed is shown again
    over = await fill_in(browser, claim_path, "submit", this_period__2="80000.01")
    assert over.status_code == 422
    assert re.search(r'id="this_period.2-error">This claims more than the line&#39;s scheduled value', over.text)
    assert (
        await desk.pool.fetchval(
            "SELECT count(*) FROM claim_lines WHERE claim_id = $1", uuid.UUID(claim_path.rsplit("/", 1)[1])
        )
        == 0
    )
    assert await desk.events("billing.claim.submitted.v1") == []


async def test_a_claim_form_without_its_csrf_token_changes_nothing(desk):
    browser, claim_path = await desk.open_claim(JANE)
    response = await browser.post(claim_path, data={"action": "submit", "this_period.1": "100"})
    assert response.status_code == 403
    stolen = csrf_of(await browser.get(claim_path), claim_path)
    raj = await desk.logged_in(RAJ)  # another user's session with Jane's token
    assert (await raj.post(claim_path, data={"csrf_token": stolen, "action": "submit"})).status_code == 403
    for path, data in (
        ("/login", {"email": desk.email(JANE), "password": PASSWORD}),
        ("/password/new", {"email": desk.email(JANE)}),
    ):
        assert (await desk.browser().post(path, data=data)).status_code == 403
    assert await desk.events("billing.claim.submitted.v1") == []
    assert await desk.events("accounts.password_link_requested.v1") == []


# --- The due date, and claims on a contact's behalf ---


async def test_after_the_due_date_the_new_claim_page_says_whom_to_ask_and_its_old_button_is_refused_and_announced(
    desk,
):
    rosa = {"id": "U-12", "name": "Rosa Resender", "email": f"rosa@{desk.domain}"}  # who sent Jane's invite last
    sent = invite_sent(str(uuid.uuid4()), desk.period_id, desk.project, desk.commitment_id, desk.contact(JANE))
    async with desk.pool.acquire() as connection:
        await claim_use_cases.invite_sent(connection, sent)
        resent = {"invited_by": Person(**rosa), "sent_at": sent.sent_at + timedelta(days=1), "resent": True}
        await claim_use_cases.invite_sent(connection, sent.model_copy(update=resent))
        await claim_use_cases.invite_sent(connection, sent)  # the first sending, redelivered late
    browser = await desk.logged_in(JANE)
    opened_before = csrf_of(await browser.get(desk.new_claim_url), "/claims/new")
    desk.at(AFTER)
    response = await browser.get(desk.new_claim_url)
    assert response.status_code == 200
    banner = response.text[response.text.index('class="banner warning"') :]
    assert banner.index("The due date 5 December 2026 has passed") < banner.index("<dl>")  # at the top
    assert f"Ask Rosa Resender (rosa@{desk.domain}) to create it on your behalf" in response.text
    assert "Create progress claim" not in response.text and 'action="/claims/new"' not in response.text
    # Without an invite, the contact is told to ask the period's opener.
    raj = await (await desk.logged_in(RAJ)).get(f"/claims/new?commitment={desk.project}-SC-2&period={desk.period_id}")
    assert raj.status_code == 200 and f"Ask Alex Admin (alex@{desk.domain}) to create it" in raj.text
    assert await desk.events("billing.claim.attempt_rejected.v1") == []  # opening the link announces nothing
    # The button of a page opened before the due date, pressed after it: the attempt is refused and announced.
    pressed = await desk.create_claim(browser, opened_before)
    assert pressed.status_code == 409 and "create the claim on your behalf" in pressed.text
    assert (await desk.create_claim(browser, opened_before)).status_code == 409  # pressed again
    assert await desk.claims() == 0
    [rejected] = await desk.events("billing.claim.attempt_rejected.v1")  # announced once
    assert rejected["reason"] == "due_date_passed" and rejected["attempt"] == "create"
    assert rejected["attempted_by"]["id"] == JANE[0]


async def test_a_contact_cannot_submit_after_the_due_date_but_an_administrator_creates_the_claim_on_their_behalf(desk):
    browser = await desk.logged_in(JANE)
    desk.at(AFTER)
    created = await desk.create_on_behalf(ALEX)
    assert created.status_code == 201, created.text
    claim = created.json()
    assert claim["on_behalf"] is True
    assert claim["contact"]["user_id"] == JANE[0] and claim["created_by"]["id"] == ALEX[0]
    assert [line["line_id"] for line in claim["lines"]] == ["1", "2"]
    [event] = await desk.events("billing.claim.created.v1")
    assert event["cause"] == "administrator" and event["created_by"]["id"] == ALEX[0]
    assert event["contact"]["user_id"] == JANE[0]
    page = await browser.get(f"/claims/{claim['claim_id']}")
    assert "The due date has passed" in page.text and "Submit</button>" not in page.text
    claim_path = f"/claims/{claim['claim_id']}"
    refused = await browser.post(claim_path, data={"csrf_token": csrf_of(page, claim_path), "action": "submit"})
    assert refused.status_code == 409
    assert (await desk.events("billing.claim.attempt_rejected.v1"))[0]["attempt"] == "submit"
    administrator = await desk.logged_in(ALEX)
    submitted = await fill_in(administrator, f"/claims/{claim['claim_id']}", "submit", this_period__1="1000")
    assert submitted.status_code == 303
    [event] = await desk.events("billing.claim.submitted.v1")
    assert event["submitted_by"]["id"] == ALEX[0] and event["contact"]["user_id"] == JANE[0]


async def test_an_administrator_creates_a_claim_on_a_contacts_behalf_from_the_page_after_the_due_date(desk):
    path = f"/claims/on-behalf?period={desk.period_id}&commitment={desk.commitment_id}&contact={JANE[0]}"
    anonymous = await desk.browser().get(path)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    jane = await desk.logged_in(JANE)
    refused = await jane.get(path)
    assert refused.status_code == 403
    assert "Only the project&#39;s administrators can create a claim on a contact&#39;s behalf" in refused.text
    desk.at(AFTER)  # administrators may act after the due date (rule 15)
    administrator = await desk.logged_in(ALEX)
    page = await administrator.get(path)
    assert page.status_code == 200
    for expected in ("SC-1", "1 November 2026 to 30 November 2026", "Jane Citizen", "You, Alex Admin, on their behalf"):
        assert expected in page.text
    assert "The due date 5 December 2026 has passed" in page.text
    board = f"{desk.service.settings.periods_public_url}/billing-periods/{desk.period_id}"
    assert f'href="{board}"' in page.text and "Create the claim</button>" in page.text
    assert await desk.claims() == 0  # opening the page made nothing
    not_a_contact = await administrator.get(path.replace(JANE[0], RAJ[0]))
    assert not_a_contact.status_code == 422 and "is not a progress claim contact of" in not_a_contact.text
    form = {"period": desk.period_id, "commitment": desk.commitment_id, "contact": JANE[0]}
    assert (await administrator.post("/claims/on-behalf", data=form)).status_code == 403  # no CSRF token
    jane_token = csrf_of(await jane.get("/claims"), "/logout")
    assert (await administrator.post("/claims/on-behalf", data={**form, "csrf_token": jane_token})).status_code == 403
    csrf = csrf_of(page, "/claims/on-behalf")
    assert (await jane.post("/claims/on-behalf", data={**form, "csrf_token": csrf})).status_code == 403
    created = await administrator.post("/claims/on-behalf", data={**form, "csrf_token": csrf})
    assert created.status_code == 303 and created.headers["location"].startswith("/claims/")
    [event] = await desk.events("billing.claim.created.v1")
    assert event["on_behalf"] is True and event["cause"] == "administrator"
    assert event["created_by"]["id"] == ALEX[0] and event["contact"]["user_id"] == JANE[0]
    # Pressed again, or opened again: the claim there is.
    again = await administrator.post("/claims/on-behalf", data={**form, "csrf_token": csrf})
    assert again.headers["location"] == created.headers["location"]
    assert (await administrator.get(path)).headers["location"] == created.headers["location"]
    assert await desk.claims() == 1
    # The administrator fills it in and submits it on Jane's behalf, after the due date.
    claim = await administrator.get(created.headers["location"])
    assert "as an administrator you can still fill in and submit" in claim.text and f'href="{board}"' in claim.text
    submitted = await fill_in(administrator, created.headers["location"], "submit", this_period__1="1000")
    assert submitted.status_code == 303
    [event] = await desk.events("billing.claim.submitted.v1")
    assert event["submitted_by"]["id"] == ALEX[0]


async def test_the_on_behalf_api_checks_who_asks_for_whom_and_makes_one_claim(desk):
    url = f"/api/billing-periods/{desk.period_id}/commitments/{desk.commitment_id}/claims"
    async with httpx.AsyncClient(base_url=desk.service.base_url) as client:
        assert (await client.post(url, json={"contact_user_id": JANE[0]})).status_code == 401
    assert (await desk.create_on_behalf(JANE)).status_code == 403
    not_a_contact = await desk.create_on_behalf(ALEX, contact_user_id=RAJ[0])
    assert not_a_contact.status_code == 422 and "not a progress claim contact" in not_a_contact.json()["detail"]
    assert (await desk.create_on_behalf(ALEX)).status_code == 201
    second = await desk.create_on_behalf(ALEX, contact_user_id=NELL[0])
    assert second.status_code == 409 and "one claim per commitment per period" in second.json()["detail"]
    token = await desk.api_token(ALEX)
    async with httpx.AsyncClient(base_url=desk.service.base_url) as client:
        listed = await client.get(
            f"/api/billing-periods/{desk.period_id}/claims", headers={"Authorization": f"Bearer {token}"}
        )
        refused = await client.get(
            f"/api/billing-periods/{desk.period_id}/claims",
            headers={"Authorization": f"Bearer {await desk.api_token(JANE)}"},
        )
        unknown = await client.get(
            f"/api/billing-periods/{uuid.uuid4()}/claims", headers={"Authorization": f"Bearer {token}"}
        )
    assert [claim["contact"]["user_id"] for claim in listed.json()] == [JANE[0]]
    assert refused.status_code == 403 and unknown.status_code == 404


async def test_my_invites_and_claims_lists_the_contacts_own_claims(desk):
    browser, claim_path = await desk.open_claim(JANE)
    page = await browser.get("/claims")
    assert claim_path in page.text and "Draft" in page.text
    raj = await desk.logged_in(RAJ)
    assert claim_path not in (await raj.get("/claims")).text


async def test_my_invites_and_claims_lists_the_contacts_commitments_with_new_progress_claim_before_the_due_date(desk):
    browser = await desk.logged_in(JANE)
    page = await browser.get("/claims")
    new_claim_link = desk.new_claim_url.replace("&", "&amp;")
    assert f'<a href="{new_claim_link}">New progress claim</a>' in page.text  # no invite needed (rule 16)
    assert "SC-2" not in page.text  # not her commitment
    created = await desk.create_claim(browser, csrf_of(await browser.get(desk.new_claim_url), "/claims/new"))
    page = await browser.get("/claims")
    assert f'<a href="{created.headers["location"]}">Open the progress claim</a>' in page.text
    assert "New progress claim" not in page.text
    raj = await desk.logged_in(RAJ)
    desk.at(AFTER)
    late = await raj.get("/claims")
    assert "SC-2" in late.text and "New progress claim" not in late.text
    assert "The due date 5 December 2026 of the billing period" in late.text
    nell = await (await desk.logged_in(NELL)).get("/claims")  # designated, but without Commitments permission
    assert "You are not a progress claim contact of any commitment" in nell.text


async def test_my_invites_lists_the_invites_still_to_answer_with_their_links(desk):
    invite_id = str(uuid.uuid4())
    sent = invite_sent(invite_id, desk.period_id, desk.project, desk.commitment_id, desk.contact(JANE))
    async with desk.pool.acquire() as connection:
        await claim_use_cases.invite_sent(connection, sent)
    browser = await desk.logged_in(JANE)
    page = await browser.get("/claims")
    assert invite_url(desk.service.settings, invite_id) in page.text
    assert "due 5 December 2026" in page.text
    assert "No invites are waiting" in (await (await desk.logged_in(RAJ)).get("/claims")).text
    desk.at(AFTER)  # an invite can no longer be answered after the due date
    assert invite_url(desk.service.settings, invite_id) not in (await browser.get("/claims")).text


async def test_the_next_periods_claim_carries_the_submitted_one_forward(desk):
    browser, november = await desk.open_claim(JANE)
    submitted = await fill_in(browser, november, "submit", this_period__1="30000", stored__2="1000")
    assert submitted.status_code == 303
    december_id = str(uuid.uuid4())
    december = desk.period_opened(
        december_id, date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 5), datetime(2027, 1, 5, 13, tzinfo=UTC)
    )
    async with desk.pool.acquire() as connection:
        await period_view.period_opened(connection, december)
    desk.period_id = december_id
    _, claim_path = await desk.open_claim(JANE)
    fresh = await browser.get(claim_path)
    assert 'id="stored.2" name="stored.2" value="1000.00"' in fresh.text  # still stored, until it is changed
    page = await fill_in(browser, claim_path, "save", this_period__1="20000")
    page = await browser.get(page.headers["location"])
    assert re.search(r">125,000.00</td>\s*<td data-label=\"Work completed in previous claims\">30,000.00<", page.text)
    assert re.search(r'id="total-completed">50,000.00<', page.text)
    assert re.search(r'id="less-previous">29,450.00<', page.text)  # November's 31,000 less 5% retention
    assert re.search(r'id="current-payment-due">AUD 18,050.00<', page.text)


async def test_a_commitment_that_is_not_approved_cannot_be_claimed(desk):
    draft = commitment(
        desk.commitment_id, version=2, project_id=desk.project, status="draft", invoice_contacts=[desk.contact(JANE)]
    )
    async with desk.pool.acquire() as connection:
        await apply_commitment(connection, draft)
    browser = await desk.logged_in(JANE)
    response = await browser.get(desk.new_claim_url)
    assert response.status_code == 409 and "is not approved (its status is draft)" in response.text
    assert await desk.claims() == 0


async def test_a_login_form_posted_from_another_browser_is_refused(desk):
    """Another site can fetch the login page for itself, but its token is bound to its own browser's cookie."""
    attacker = desk.browser()
    stolen = csrf_of(await attacker.get("/login"))
    victim = desk.browser()
    forged = await victim.post(
        "/login", data={"email": desk.email(RAJ), "password": PASSWORD, "csrf_token": stolen, "next": "/claims"}
    )
    assert forged.status_code == 403 and "itb_session" not in forged.headers.get("set-cookie", "")


async def test_characters_that_cannot_be_stored_get_a_clear_refusal(desk):
    browser = desk.browser()
    response = await log_in(browser, "jane\x00@example.com", PASSWORD)
    assert response.status_code in (401, 422)
    api = await browser.post("/api/sessions", json={"email": "jane@exa\x00mple.com", "password": "x"})
    assert api.status_code == 422
    nul = await (await desk.logged_in(JANE)).get(f"/claims/new?commitment=SC%00&period={desk.period_id}")
    assert nul.status_code == 422 and "cannot be stored" in nul.text


async def test_a_link_to_what_has_not_arrived_waits_then_says_it_is_not_known(desk):
    browser = await desk.logged_in(JANE)
    unknown = f"/claims/new?commitment={desk.commitment_id}&period={uuid.uuid4()}"
    waiting = await browser.get(unknown)
    assert waiting.status_code == 202 and "being prepared" in waiting.text
    assert "waited=1" in re.search(r'http-equiv="refresh" content="([^"]+)"', waiting.text).group(1)
    given_up = await browser.get(f"{unknown}&waited={claim_pages.PREPARING_ATTEMPTS}")
    assert given_up.status_code == 404 and "not known" in given_up.text
