"""The administrator's round in a real browser (headless Chromium): logging in through the claims service's
login page, opening a billing period from the project's page, and watching the board fill as invites go out,
refreshed in place by its script; at phone width nothing scrolls sideways, and no page breaks its
Content-Security-Policy. Each step is a function, so that the round can grow step by step."""

import asyncio
import contextlib
import re
import shutil
from datetime import UTC, datetime

import pytest

from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from tests.integration.billing_round import BillingRound
from tests.support import running_service, service_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Chromium is not installed: `apt-get install -y chromium` (Debian) runs the browser tests.",
)

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 2 November, 14:00 in Sydney
PASSWORD = "the administrator's own password"
PHONE = {"width": 375, "height": 740}


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"],
        )
        # A laptop, with JavaScript: the board refreshes itself.
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        yield context
        await chromium.close()


@contextlib.asynccontextmanager
async def administrator_round(infrastructure, database_for):
    """The claims, periods and notifier services, each knowing where the others are, for a project of its own:
    Harbour Tower with its commitments and the contacts' memberships, and Alex, its administrator."""
    databases = {name: await database_for(name) for name in ("claims", "periods", "notifier")}
    settings = {name: service_settings(infrastructure, name, db.url) for name, db in databases.items()}
    public = {f"{name}_public_url": f"http://127.0.0.1:{value.port}" for name, value in settings.items()}
    settings = {name: value.model_copy(update=public) for name, value in settings.items()}
    settings["notifier"] = settings["notifier"].model_copy(update={"smtp_retry_first_delay_seconds": 0.3})
    async with (
        running_service(claims, settings["claims"]) as claims_service,
        running_service(periods, settings["periods"]) as periods_service,
        running_service(notifier, settings["notifier"]) as notifier_service,
    ):
        periods_service.app.state.clock.set(NOW)
        notifier_service.app.state.clock.set(NOW)
        round_ = BillingRound(infrastructure, periods_service, notifier_service, databases["notifier"].pool)
        round_.claims = claims_service
        round_.claims_pool = databases["claims"].pool
        await round_.publish_administrator()
        for contact in ("jane", "raj", "mei", "tom"):
            await round_.publish_member(contact)
        await round_.publish_commitment("SC-1", ["jane", "raj"], status="approved")
        await round_.publish_commitment("PO-1", ["mei"], kind="purchase_order", status="approved")
        await round_.publish_commitment("SC-2", ["ana"], status="draft")
        await round_.publish_commitment("SC-4", ["tom"], status="complete")
        await round_.wait_until_known(commitments=4)
        yield round_


async def test_an_administrator_logs_in_opens_a_period_and_watches_the_board_fill(
    infrastructure, database_for, browser
):
    async with administrator_round(infrastructure, database_for) as round_:
        page = await browser.new_page()
        console = watch_console(page)
        await log_in_as_the_administrator(page, round_)
        await open_the_next_period_from_the_projects_page(page, round_)
        await see_the_board_fill_without_reloading(page, invited=4)
        assert await page.get_by_text("Not invited: the commitment is a draft.", exact=True).is_visible()
        await see_no_sideways_scrolling_at_phone_width(page)
        assert [text for text in console if "Content Security Policy" in text] == []


def watch_console(page) -> list[str]:
    """What Chromium reports; a Content-Security-Policy violation is reported here."""
    console: list[str] = []
    page.on("console", lambda entry: console.append(entry.text))
    return console


async def log_in_as_the_administrator(page, round_) -> None:
    """The periods service sends a browser without a session to the claims service's login page, and back."""
    email = f"alex@{round_.domain}"
    await _give_password(round_.claims_pool, email, PASSWORD)
    await page.goto(f"{round_.periods.base_url}/")
    await page.wait_for_url(f"{round_.claims.base_url}/login?**")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{round_.periods.base_url}/")
    await page.get_by_role("heading", name="Your projects").wait_for()


async def open_the_next_period_from_the_projects_page(page, round_) -> None:
    """The project's page suggests this month in the project's time zone, due five days after it ends."""
    await page.get_by_role("link", name="Harbour Tower").click()
    await page.get_by_role("heading", name="Harbour Tower: billing periods").wait_for()
    assert await page.get_by_label("Start date", exact=True).input_value() == "2026-11-01"
    assert await page.get_by_label("Due date", exact=True).input_value() == "2026-12-05"
    await page.get_by_label("Remind contacts who have not answered").fill("2")
    await page.get_by_role("button", name="Open the billing period").click()
    await page.get_by_text("The billing period is open.").wait_for()
    assert await page.get_by_role("heading", name="Billing period 1 November 2026 to 30 November 2026").is_visible()


async def see_the_board_fill_without_reloading(page, invited: int) -> None:
    """The board's script fetches the board again when events arrive: the totals move with no reload, and the
    link the administrator was on keeps the focus."""
    marker = await page.evaluate("() => (window.boardMarker = Math.random())")
    await page.get_by_role("link", name="Download CSV").focus()
    async with asyncio.timeout(40):
        while await page.locator("#total-invited").inner_text() != str(invited):
            await page.wait_for_timeout(250)
    assert await page.evaluate("() => window.boardMarker") == marker, "the page was reloaded"
    assert re.fullmatch(r"\d\d:\d\d:\d\d", await page.locator("#as-of").inner_text())
    assert await page.locator("#board-announcement").inner_text() != ""
    assert await page.evaluate("() => document.activeElement.textContent") == "Download CSV"


async def see_no_sideways_scrolling_at_phone_width(page) -> None:
    await page.set_viewport_size(PHONE)
    await page.reload()
    await page.locator("#total-invited").wait_for()
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the board scrolls {overflow} px sideways at {PHONE['width']} px wide"


async def _give_password(pool, email: str, password: str) -> None:
    """As `itb users set-password` would, once the claims service has heard of the user from the ERP."""
    async with asyncio.timeout(20):
        while (user_id := await pool.fetchval("SELECT user_id FROM erp_users WHERE email = $1", email)) is None:
            await asyncio.sleep(0.1)
    async with pool.acquire() as connection:
        await accounts.set_password(connection, user_id, password, datetime.now(UTC))
