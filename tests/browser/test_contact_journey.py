"""The contact's journey in a real browser (headless Chromium): from the invite email to the answer, and on
through login to the submitted progress claim; and no page on the way breaks its Content-Security-Policy."""

import asyncio
import json
import re
from datetime import UTC, datetime

import pytest

from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from services.responses.app import definition as responses
from shared.contracts.topics import BILLING_CLAIMS, BILLING_RESPONSES
from tests.integration.billing_round import billing_round
from tests.integration.test_notifier import open_harbour_tower_round
from tests.support import running_service, service_settings, topic_reader


@pytest.fixture
async def browser(chromium):
    # A phone: the contact opens the email on one.
    return await chromium.new_context(viewport={"width": 360, "height": 740}, java_script_enabled=False)


def link(message, answer: str) -> str:
    html = message.get_body(("html",)).get_content()
    return next(href for href in re.findall(r'href="([^"]+)"', html) if href.endswith(f"answer={answer}"))


async def test_a_contact_follows_the_emailed_link_and_answers_on_a_phone(infrastructure, database_for, browser):
    claims_database = await database_for("claims")
    responses_database = await database_for("responses")
    async with (
        running_service(claims, service_settings(infrastructure, "claims", claims_database.url)) as claims_service,
        running_service(
            responses,
            service_settings(
                infrastructure, "responses", responses_database.url, claims_public_url=claims_service.base_url
            ),
        ) as responses_service,
    ):
        public = {"responses_public_url": responses_service.base_url}
        async with billing_round(infrastructure, database_for, **public) as round_:
            responses_service.app.state.clock.set(datetime(2026, 11, 2, 3, 0, tzinfo=UTC))
            for contact in ("jane", "raj", "mei"):
                await round_.publish_member(contact)
            period = await open_harbour_tower_round(round_)
            messages = {m["To"].addresses[0].username: m for m in await round_.wait_for_mail(4)}
            page = await browser.new_page()
            console = []  # what Chromium reports; a Content-Security-Policy violation is reported here
            page.on("console", lambda entry: console.append(entry.text))
            stylesheets = []
            page.on("response", lambda r: stylesheets.append(r.status) if r.url.endswith("/pages.css") else None)

            # Jane says No: the page asks for the click, records it and says so.
            await page.goto(link(messages["jane"], "no"))
            while "being prepared" in await page.content():  # the email can outrun InviteSent
                await page.wait_for_timeout(500)
                await page.reload()
            assert await page.get_by_text("Do you want to bill this period?").is_visible()
            # She says why, choosing by its label in the optional group (rule 18a), with her No.
            await page.get_by_role("group", name="Why not this period?").get_by_label("In dispute").check()
            await page.get_by_role("button", name="No").click()
            await page.get_by_text("Your response has been recorded").wait_for()
            async with topic_reader(round_.bootstrap, BILLING_RESPONSES) as reader:
                [declined] = await reader.wait_for(
                    lambda r: (
                        (e := json.loads(r.value))["data"]["contact"]["email"].startswith("jane@")
                        and e["data"]["period_id"] == period["id"]
                    )
                )
            assert json.loads(declined.value)["type"] == "billing.invite.declined.v1"
            assert json.loads(declined.value)["data"]["reason"] == {"code": "in_dispute", "text": None}

            # Raj says Yes and is sent on to the New Progress Claim page, which asks him to log in first.
            await page.goto(link(messages["raj"], "yes"))
            await page.get_by_role("button", name="Yes").click()
            await page.wait_for_url(f"{claims_service.base_url}/login?**")
            assert f"commitment%3D{round_.project}-SC-1%26period%3D{period['id']}" in page.url
            # His Yes makes the draft claim (rule 14); once it has, the page leads straight to it.
            async with topic_reader(round_.bootstrap, BILLING_CLAIMS) as reader:
                await reader.wait_for(lambda r: _claim_created(r, period["id"], "SC-1"))
            await _log_in(page, claims_database.pool, f"raj@{round_.domain}")
            while "being prepared" in await page.content():  # the period can outrun the answer's claim
                await page.wait_for_timeout(500)
                await page.reload()
            assert await page.get_by_role("heading", name=re.compile("New Progress Claim: SC-1")).is_visible()

            # He fills in the schedule of values; the server works out the money.
            await page.get_by_label("Work completed this period, Footings").fill("30,000")
            await page.get_by_label("Materials presently stored, Footings").fill("2500")
            await page.get_by_role("button", name="Save draft").click()
            await page.get_by_text("Your draft has been saved").wait_for()
            assert await page.locator("#total-completed").inner_text() == "32,500.00"
            assert await page.locator("#retention").inner_text() == "1,625.00"
            assert await page.locator("#current-payment-due").inner_text() == "AUD 30,875.00"
            await page.get_by_role("button", name="Submit").click()
            await page.get_by_text("Your progress claim has been submitted").wait_for()
            async with topic_reader(round_.bootstrap, BILLING_CLAIMS) as reader:
                [submitted] = await reader.wait_for(
                    lambda r: (
                        (e := json.loads(r.value))["type"] == "billing.claim.submitted.v1"
                        and e["data"]["period_id"] == period["id"]
                    )
                )
            assert json.loads(submitted.value)["data"]["totals"]["current_payment_due"] == "30875.00"

            # Mei opens the New Progress Claim page for her purchase order herself (rule 16): it shows what it
            # would make, and its button makes it.
            await page.get_by_role("button", name=re.compile("Log out")).click()
            await page.goto(
                f"{claims_service.base_url}/claims/new?commitment={round_.project}-PO-1&period={period['id']}"
            )
            await _log_in(page, claims_database.pool, f"mei@{round_.domain}")
            while "being prepared" in await page.content():
                await page.wait_for_timeout(500)
                await page.reload()
            assert await page.get_by_text("1 November 2026 to 30 November 2026").is_visible()
            await page.get_by_role("button", name="Create progress claim").click()
            await page.get_by_role("heading", name=re.compile("New Progress Claim: PO-1")).wait_for()
            assert await page.get_by_role("button", name="Save draft").is_visible()

            # After the due date, Mei sees the banner and no way to say Yes.
            responses_service.app.state.clock.set(datetime(2026, 12, 5, 13, 1, tzinfo=UTC))
            await page.goto(link(messages["mei"], "yes"))
            assert await page.get_by_text("The due date has passed.").is_visible()
            assert await page.get_by_role("button", name="Yes").count() == 0

            # Every page was styled by the stylesheet alone, and none broke its Content-Security-Policy.
            assert stylesheets and set(stylesheets) <= {200, 304}
            assert [text for text in console if "Content Security Policy" in text] == []


def _claim_created(record, period_id: str, commitment_number: str) -> bool:
    event = json.loads(record.value)
    return (
        event["type"] == "billing.claim.created.v1"
        and event["data"]["period_id"] == period_id
        and event["data"]["commitment_id"].endswith(commitment_number)
    )


async def _log_in(page, pool, email: str) -> None:
    """On the login page the claims service sent the browser to: a password given, then typed."""
    password = f"{email}'s own password"
    await _give_password(pool, email, password)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def _give_password(pool, email: str, password: str) -> None:
    """As `itb users set-password` would, once the claims service has heard of the user from the ERP."""
    async with asyncio.timeout(20):
        while (user_id := await pool.fetchval("SELECT user_id FROM erp_users WHERE email = $1", email)) is None:
            await asyncio.sleep(0.1)
    async with pool.acquire() as connection:
        await accounts.set_password(connection, user_id, password, datetime.now(UTC))
