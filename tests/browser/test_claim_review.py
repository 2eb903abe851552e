"""Reviewing a progress claim in a real browser (headless Chromium), through the real pages, broker and mail
server (rule 18): the administrator sends Jane's submitted claim back with a reason after the due date; Jane gets
the email, follows its link on her phone, changes a line and resubmits; the administrator approves. The events
are on `billing.claims`, each page fits a phone, and none breaks its Content-Security-Policy."""

import asyncio
import contextlib
import json
import re
from datetime import UTC, datetime

from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from shared.contracts.topics import BILLING_CLAIMS
from tests.integration.billing_round import BillingRound
from tests.support import linked_service_settings, running_service, topic_reader

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 20 November, 14:00 in Sydney
AFTER_DUE = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)  # 6 December in Sydney: the due date (5 December) has passed
PHONE = {"width": 375, "height": 740}
WITHIN = 30  # seconds: how long what the broker carries may take to arrive
SERVICES = ("claims", "periods", "notifier")
LINES = [
    {"line_id": "1", "cost_code": "03-300", "description": "Footings", "scheduled_value": "125000.00"},
    {"line_id": "2", "cost_code": "03-400", "description": "Walls", "scheduled_value": "80000.00"},
]


@contextlib.asynccontextmanager
async def review_round(infrastructure, database_for):
    """The claims, periods and notifier services, each knowing where the others are, for a project of its own
    (Harbour Tower, SC-1 of two lines with Jane its contact, Alex its administrator) and its November period,
    opened through the periods service's API."""
    round_ = BillingRound(infrastructure, periods=None, notifier=None, notifier_pool=None)
    databases = {name: await database_for(name) for name in SERVICES}
    settings = linked_service_settings(infrastructure, databases)
    async with (
        running_service(claims, settings["claims"]) as claims_service,
        running_service(periods, settings["periods"]) as periods_service,
        running_service(notifier, settings["notifier"]) as notifier_service,
    ):
        round_.periods, round_.notifier = periods_service, notifier_service
        round_.notifier_pool = databases["notifier"].pool
        round_.claims, round_.claims_pool = claims_service, databases["claims"].pool
        set_clocks(round_, NOW)
        await round_.publish_administrator()
        await round_.publish_member("jane")
        await round_.publish_commitment("SC-1", ["jane"], status="approved", schedule_of_values=LINES)
        await round_.wait_until_known(commitments=1)
        opened = await round_.open_period()
        assert opened.status_code == 201, opened.text
        round_.period_id = opened.json()["id"]
        yield round_


def set_clocks(round_, now: datetime) -> None:
    for service in (round_.claims, round_.periods, round_.notifier):
        service.app.state.clock.set(now)


async def test_an_administrator_sends_a_claim_back_and_approves_it_once_the_contact_resubmits(
    infrastructure, database_for, chromium
):
    async with (
        review_round(infrastructure, database_for) as round_,
        topic_reader(round_.bootstrap, BILLING_CLAIMS) as reader,
    ):
        laptop = await chromium.new_context(viewport={"width": 1280, "height": 900})
        phone = await chromium.new_context(viewport=PHONE)
        alex, jane = await laptop.new_page(), await phone.new_page()
        console = watch_console(alex, jane)

        claim_url = await jane_submits_her_claim(jane, round_)
        claim_id = claim_url.rsplit("/", 1)[1]
        set_clocks(round_, AFTER_DUE)
        await alex_sends_it_back_from_the_review_page(alex, round_)
        await jane_follows_the_email_changes_a_line_and_resubmits(jane, round_, claim_url)
        await alex_approves_it(alex, round_)

        records = await reader.wait_for(lambda record: record.key == claim_id.encode(), count=5, within=WITHIN)
        events = [json.loads(record.value) for record in records]
        assert [(event["type"], event["data"].get("revision")) for event in events] == [
            ("billing.claim.created.v1", None),
            ("billing.claim.submitted.v1", 1),
            ("billing.claim.revision_requested.v1", 1),
            ("billing.claim.submitted.v1", 2),
            ("billing.claim.approved.v1", 2),
        ]
        assert events[2]["data"]["reason"] == "The <footings> are half done: see the site report."
        assert events[4]["data"]["totals"]["total_completed_and_stored"] == "25000.00"
        assert [text for text in console if "Content Security Policy" in text] == []


def watch_console(*pages) -> list[str]:
    """What Chromium reports on any of the pages; a Content-Security-Policy violation is reported here."""
    console: list[str] = []
    for page in pages:
        page.on("console", lambda entry: console.append(entry.text))
    return console


async def jane_submits_her_claim(page, round_) -> str:
    """Jane, on her phone, makes her claim without an invite (rule 16), claims 30,000 of footings and submits;
    the claim's address."""
    new_claim = f"{round_.claims.base_url}/claims/new?commitment={round_.project}-SC-1&period={round_.period_id}"
    await page.goto(new_claim)
    await log_in(page, round_, f"jane@{round_.domain}")
    async with asyncio.timeout(WITHIN):
        while "being prepared" in await page.content():  # the period is on its way to the claims service
            await page.wait_for_timeout(250)
            await page.goto(new_claim)
    await page.get_by_role("button", name="Create progress claim").click()
    await page.get_by_label("Work completed this period, Footings").fill("30000")
    await page.get_by_role("button", name="Submit").click()
    await page.get_by_text("Your progress claim has been submitted.").wait_for()
    await see_no_sideways_scrolling(page, "the submitted claim")
    return page.url.split("?")[0]


async def alex_sends_it_back_from_the_review_page(page, round_) -> None:
    """After the due date, Alex opens the period's review page, then the claim, and sends it back with a reason
    and a note on the footings; the day to resubmit by is five days on, in Sydney."""
    await page.goto(f"{round_.claims.base_url}/billing-periods/{round_.period_id}/review")
    await log_in(page, round_, f"alex@{round_.domain}")
    await page.get_by_role("heading", name="Review progress claims").wait_for()
    row = page.locator("table.review tbody tr")
    assert re.search(r"Submitted, under review\s+1\s+AUD 30,000.00\s+AUD 28,500.00", await row.inner_text())
    await see_no_sideways_scrolling(page, "the review page")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.get_by_role("link", name=re.compile("SC-1")).click()
    await page.get_by_role("heading", name="Review").wait_for()
    await see_no_sideways_scrolling(page, "the claim page with its review forms")  # and sends it back on a phone
    assert await page.get_by_label("Resubmit by").input_value() == "2026-12-11"
    await page.get_by_label("Reason").fill("The <footings> are half done: see the site report.")
    await page.get_by_label("03-300 Footings").fill("Claim 25,000 at most.")
    await page.get_by_role("button", name="Send back to revise").click()
    await page.get_by_text("The progress claim is sent back to revise").wait_for()
    assert await page.get_by_role("button", name="Approve").count() == 0


async def jane_follows_the_email_changes_a_line_and_resubmits(page, round_, claim_url: str) -> None:
    """The notifier emails Jane why, with the link to her claim; after the due date she may still change it and
    resubmit it: it is the same claim (rule 18)."""
    message = await mail_titled(round_, "Harbour Tower: SC-1 progress claim sent back to revise")
    body = message.get_body(("plain",)).get_content()
    assert "The <footings> are half done: see the site report." in body and "Claim 25,000 at most." in body
    html = message.get_body(("html",)).get_content()
    [link] = {href for href in re.findall(r'href="([^"]+)"', html) if "/claims/" in href}
    assert link == claim_url
    await page.goto(link)
    banner = page.locator("#sent-back")
    assert "Reason: The <footings> are half done: see the site report." in await banner.inner_text()
    assert "03-300 Footings: Claim 25,000 at most." in await banner.inner_text()
    assert "11 December 2026" in await banner.inner_text()
    await see_no_sideways_scrolling(page, "the claim sent back")
    await page.get_by_label("Work completed this period, Footings").fill("25000")
    await page.get_by_role("button", name="Resubmit").click()
    await page.get_by_text("Your progress claim has been submitted.").wait_for()
    assert await page.get_by_text("Submitted, under review (revision 2)").is_visible()


async def alex_approves_it(page, round_) -> None:
    await page.reload()
    await page.get_by_role("button", name="Approve").click()
    await page.get_by_text("The progress claim is approved").wait_for()
    assert await page.get_by_text("Approved (revision 2)").is_visible()
    approved = await mail_titled(round_, "Harbour Tower: SC-1 progress claim approved")
    assert "AUD 23,750.00" in approved.get_body(("plain",)).get_content()  # 25,000 less 5% retention


async def mail_titled(round_, subject: str):
    async with asyncio.timeout(WITHIN):
        while not (found := [message for message in round_.mail() if message["Subject"] == subject]):
            await asyncio.sleep(0.1)
    return found[0]


async def log_in(page, round_, email: str) -> None:
    """On the claims service's login page, where a page without a session sends the browser."""
    await page.wait_for_url(f"{round_.claims.base_url}/login?**")
    password = f"{email}'s own password"
    await give_password(round_.claims_pool, email, password)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()


async def give_password(pool, email: str, password: str) -> None:
    """As `itb users set-password` would, once the claims service has heard of the user from the ERP."""
    async with asyncio.timeout(WITHIN):
        while (user_id := await pool.fetchval("SELECT user_id FROM erp_users WHERE email = $1", email)) is None:
            await asyncio.sleep(0.1)
    async with pool.acquire() as connection:
        await accounts.set_password(connection, user_id, password, datetime.now(UTC))


async def see_no_sideways_scrolling(page, what: str) -> None:
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{what} scrolls {overflow} px sideways at {PHONE['width']} px wide"
