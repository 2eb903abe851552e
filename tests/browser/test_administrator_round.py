"""The administrator's whole round in a real browser (headless Chromium), through the real pages, broker and mail
server: logging in through the claims service's login page, opening a billing period from the project's page,
watching the board fill as invites go out and contacts answer on their phones, a bounced address, a resend to
one contact, a claim made on a contact's behalf, and the due date moved to yesterday, after which a contact sees
the banner naming whom to ask. At phone width nothing scrolls sideways, and no page breaks its
Content-Security-Policy. Each step is a function; the round runs once, on one set of services."""

import asyncio
import contextlib
import re
from datetime import UTC, datetime

from playwright.async_api import expect

from deploy.mailcatcher import REFUSAL, MailCatcher
from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from services.periods.pages import board as board_pages
from services.responses.app import definition as responses
from tests.integration.billing_round import BillingRound
from tests.support import ANSWER_SHOWN, linked_service_settings, running_service

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 2 November, 14:00 in Sydney
# A day later, 3 November in Sydney: "yesterday" is 2 November, after the period's start. The clocks move before
# the due date does, since each service's copy of a period ignores a change stamped at the instant it opened.
A_DAY_LATER = datetime(2026, 11, 3, 3, 0, tzinfo=UTC)
YESTERDAY = "2026-11-02"
PHONE = {"width": 375, "height": 740}
WITHIN = 20_000  # milliseconds: how long an outcome carried by the broker may take to reach a page
SERVICES = ("claims", "periods", "notifier", "responses")


@contextlib.asynccontextmanager
async def administrator_round(infrastructure, database_for, maildir):
    """The four services, each knowing where the others are, for a project of its own: Harbour Tower with its
    commitments and the contacts' memberships, and Alex, its administrator. The mail server is the round's own,
    and refuses Tom's address for good (the full address: the notifier also hears other tests' periods)."""
    round_ = BillingRound(infrastructure, periods=None, notifier=None, notifier_pool=None, maildir=maildir)
    mail_server = MailCatcher(maildir, smtp_port=0, http_port=0, refused=[round_.contact("tom")["email"]])
    await mail_server.start()
    databases = {name: await database_for(name) for name in SERVICES}
    settings = linked_service_settings(infrastructure, databases)
    settings["notifier"] = settings["notifier"].model_copy(update={"smtp_port": mail_server.smtp_port})
    try:
        async with (
            running_service(claims, settings["claims"]) as claims_service,
            running_service(periods, settings["periods"]) as periods_service,
            running_service(notifier, settings["notifier"]) as notifier_service,
            running_service(responses, settings["responses"]) as responses_service,
        ):
            round_.periods, round_.notifier = periods_service, notifier_service
            round_.notifier_pool = databases["notifier"].pool
            round_.claims, round_.claims_pool = claims_service, databases["claims"].pool
            round_.responses = responses_service
            set_clocks(round_, NOW)
            await round_.publish_administrator()
            for contact in ("jane", "raj", "mei", "tom"):
                await round_.publish_member(contact)
            await round_.publish_commitment("SC-1", ["jane", "raj"], status="approved")
            await round_.publish_commitment("PO-1", ["mei"], kind="purchase_order", status="approved")
            await round_.publish_commitment("SC-2", ["ana"], status="draft")
            await round_.publish_commitment("SC-4", ["tom"], status="complete")
            await round_.wait_until_known(commitments=4)
            yield round_
    finally:
        await mail_server.stop()


def set_clocks(round_, now: datetime) -> None:
    for service in (round_.claims, round_.periods, round_.notifier, round_.responses):
        service.app.state.clock.set(now)


async def test_an_administrator_runs_the_whole_round_from_the_board(
    infrastructure, database_for, chromium, tmp_path, monkeypatch
):
    monkeypatch.setattr(board_pages, "POLL_SECONDS", 1)  # the board's script asks every second, not every five
    async with administrator_round(infrastructure, database_for, tmp_path / "mail") as round_:
        # The administrator on a laptop, with JavaScript: the board refreshes itself. The contacts on a phone,
        # without it.
        laptop = await chromium.new_context(viewport={"width": 1280, "height": 900})
        phone = await chromium.new_context(viewport=PHONE, java_script_enabled=False)
        board, contact = await laptop.new_page(), await phone.new_page()
        console = watch_console(board, contact)

        await log_in(board, round_, f"alex@{round_.domain}")
        await open_the_next_period_from_the_projects_page(board, round_)
        marker = await mark_the_page(board)
        await see_the_invites_go_out_and_toms_address_bounce(board, round_)
        assert await board.get_by_text("Not invited: the commitment is a draft.", exact=True).is_visible()
        await see_contacts_answer_on_their_phones(board, contact, round_)
        assert await board.evaluate("() => window.boardMarker") == marker, "the board was reloaded"
        await resend_the_invite_to_raj(board, round_)
        await create_a_claim_on_toms_behalf(board, round_)
        await see_no_sideways_scrolling(board, "the board")  # the board at its fullest; the round goes on at 375 px
        delivery = row(board, round_, "tom").locator('td[data-label="Delivery"]')
        assert await lines_taken(delivery, "Failed:") == 1, "a phone's card breaks a short word across lines"
        await move_the_due_date_to_yesterday(board, round_)
        await see_mei_get_the_banner_naming_whom_to_ask(contact, round_)
        assert [text for text in console if "Content Security Policy" in text] == []


def watch_console(*pages) -> list[str]:
    """What Chromium reports on any of the pages; a Content-Security-Policy violation is reported here."""
    console: list[str] = []
    for page in pages:
        page.on("console", lambda entry: console.append(entry.text))
    return console


async def log_in(page, round_, email: str) -> None:
    """On the claims service's login page, where a page of any service sends a browser without a session."""
    if not page.url.startswith(f"{round_.claims.base_url}/login"):
        await page.goto(f"{round_.periods.base_url}/")
        await page.wait_for_url(f"{round_.claims.base_url}/login?**")
    password = f"{email}'s own password"
    await _give_password(round_.claims_pool, email, password)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()


async def open_the_next_period_from_the_projects_page(page, round_) -> None:
    """The project's page suggests this month in the project's time zone, due five days after it ends."""
    await page.wait_for_url(f"{round_.periods.base_url}/")
    await page.get_by_role("heading", name="Your projects").wait_for()
    await page.get_by_role("link", name="Harbour Tower").click()
    await page.get_by_role("heading", name="Harbour Tower: billing periods").wait_for()
    assert await page.get_by_label("Start date", exact=True).input_value() == "2026-11-01"
    assert await page.get_by_label("Due date", exact=True).input_value() == "2026-12-05"
    await page.get_by_label("Remind contacts who have not answered").fill("2")
    await page.get_by_role("button", name="Open the billing period").click()
    await page.get_by_text("The billing period is open.").wait_for()
    assert await page.get_by_role("heading", name="Billing period 1 November 2026 to 30 November 2026").is_visible()
    round_.period_id = page.url.split("/billing-periods/")[1].split("?")[0]


async def mark_the_page(page) -> float:
    """A mark that a reload would wipe: while it stays, the board changed in place."""
    return await page.evaluate("() => (window.boardMarker = Math.random())")


async def see_the_invites_go_out_and_toms_address_bounce(page, round_) -> None:
    """The board's script fetches the board again when events arrive: the totals move with no reload, and the
    link the administrator was on keeps the focus. Tom's mail server refuses his address: his row says so, with
    its reply, and the delivery failures count him."""
    await page.get_by_role("link", name="Download CSV").focus()
    await expect(page.locator("#total-invited")).to_have_text("4", timeout=WITHIN)
    await expect(page.locator("#total-delivery-failures")).to_have_text("1", timeout=WITHIN)
    await expect(row(page, round_, "tom").locator('td[data-label="Delivery"]')).to_have_text(f"Failed: {REFUSAL}")
    for name in ("jane", "raj", "mei"):
        await expect(row(page, round_, name).locator('td[data-label="Delivery"]')).to_have_text("Sent", timeout=WITHIN)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", await page.locator("#as-of").inner_text())
    assert await page.locator("#board-announcement").inner_text() != ""
    assert await page.evaluate("() => document.activeElement.textContent") == "Download CSV"


async def see_contacts_answer_on_their_phones(board, contact, round_) -> None:
    """Jane follows her emailed Yes link, Mei her No link; each page asks for the press. The board, open all the
    while, shows both answers, and the draft claim Jane's Yes made (rule 14), without a reload."""
    messages = {message["To"].addresses[0].username: message for message in await round_.wait_for_mail(3)}
    assert sorted(messages) == ["jane", "mei", "raj"]  # not Tom: his address was refused

    await follow_the_emailed_link(contact, messages["jane"], "yes")
    await see_no_sideways_scrolling(contact, "the invite page")
    await contact.get_by_role("button", name="Yes").click()
    await contact.wait_for_url(f"{round_.claims.base_url}/login?**")  # on to the claim, once logged in

    await follow_the_emailed_link(contact, messages["mei"], "no")
    await contact.get_by_role("button", name="No").click()
    await contact.get_by_text("Your response has been recorded").wait_for()
    assert await contact.get_by_text(ANSWER_SHOWN["no"]).is_visible()

    await expect(board.locator("#total-yes")).to_have_text("1", timeout=WITHIN)
    await expect(board.locator("#total-no")).to_have_text("1", timeout=WITHIN)
    await expect(board.locator("#total-not-answered")).to_have_text("2")
    await expect(row(board, round_, "jane").locator('td[data-label="Answer"]')).to_have_text(re.compile(r"^Yes, "))
    await expect(row(board, round_, "mei").locator('td[data-label="Answer"]')).to_have_text(re.compile(r"^No, "))
    await expect(row(board, round_, "jane").locator('td[data-label="Claim"]')).to_have_text(
        re.compile(r"^Draft claim of Jane"), timeout=WITHIN
    )
    # Raj shares Jane's commitment: its one claim is hers, which his row opens rather than making another.
    await expect(row(board, round_, "raj").get_by_role("link", name="Open the claim of SC-1")).to_be_visible()


async def follow_the_emailed_link(page, message, answer: str) -> None:
    html = message.get_body(("html",)).get_content()
    await page.goto(next(href for href in re.findall(r'href="([^"]+)"', html) if href.endswith(f"answer={answer}")))
    async with asyncio.timeout(WITHIN / 1000):
        while "being prepared" in await page.content():  # the email can outrun InviteSent
            await page.wait_for_timeout(250)
            await page.reload()
    assert await page.get_by_text("Do you want to bill this period?").is_visible()


async def resend_the_invite_to_raj(page, round_) -> None:
    """Raj has not answered: his row's button sends his invite again, a sending of its own (a Message-ID of its
    own) with the same links, from the administrator who asked; the board shows it."""
    await page.get_by_role("button", name="Resend the invite to Raj, SC-1").click()
    await page.get_by_text("The invite will be emailed to this contact again").wait_for()
    resent = (await round_.wait_for_mail(4))[3]
    first = next(message for message in round_.mail() if message["To"] == resent["To"])
    assert resent["To"].addresses[0].username == "raj"
    assert "sending this invite again" in resent.get_body(("plain",)).get_content()
    assert resent["Message-ID"] != first["Message-ID"]
    assert _answer_links(resent) == _answer_links(first)
    await expect(row(page, round_, "raj").locator('td[data-label="Invite"]')).to_contain_text(
        "sent again", timeout=WITHIN
    )
    await expect(row(page, round_, "raj").locator('td[data-label="Invite"]')).to_contain_text("by Alex Admin")
    await expect(page.locator("#total-invited")).to_have_text("4")


async def create_a_claim_on_toms_behalf(page, round_) -> None:
    """Tom never got his invite: the administrator makes his claim from his row, on the claims service's page,
    and the board shows it as his draft."""
    await page.get_by_role("link", name="Create a claim for Tom").click()
    await page.wait_for_url(f"{round_.claims.base_url}/claims/on-behalf?**")
    await page.get_by_role("heading", name="Create a progress claim on Tom's behalf").wait_for()
    await page.get_by_role("button", name="Create the claim").click()
    await page.get_by_role("heading", name=re.compile("New Progress Claim: SC-4")).wait_for()
    assert await page.get_by_text("Draft, created on behalf of Tom by Alex Admin").is_visible()
    await page.get_by_role("link", name="Back to the period board").click()
    await expect(row(page, round_, "tom").locator('td[data-label="Claim"]')).to_have_text(
        re.compile(r"^Draft claim of Tom"), timeout=WITHIN
    )


async def move_the_due_date_to_yesterday(page, round_) -> None:
    """A day on, the administrator ends claiming: the page asks first and says what follows."""
    set_clocks(round_, A_DAY_LATER)
    await page.reload()
    await page.get_by_label("New due date").fill(YESTERDAY)
    await page.get_by_role("button", name="Change the due date").click()
    await page.get_by_role("heading", name="Move the due date to a day that ends claiming?").wait_for()
    assert await page.get_by_text("contacts cannot create or submit claims for this period").is_visible()
    await page.get_by_role("button", name="Move the due date").click()
    await page.get_by_text("The due date has changed.").wait_for()
    assert await page.get_by_text("2 November 2026 (passed: contacts can no longer claim").is_visible()


async def see_mei_get_the_banner_naming_whom_to_ask(page, round_) -> None:
    """Mei said No, and now wants to claim after all: logged in on her phone, she opens the New Progress Claim
    page for her purchase order and is told the due date has passed and whom to ask, with nothing to press."""
    new_claim = f"{round_.claims.base_url}/claims/new?commitment={round_.project}-PO-1&period={round_.period_id}"
    await page.goto(new_claim)
    await page.wait_for_url(f"{round_.claims.base_url}/login?**")
    await log_in(page, round_, f"mei@{round_.domain}")
    banner = page.get_by_text("The due date 2 November 2026 has passed.")
    async with asyncio.timeout(WITHIN / 1000):
        while not await banner.is_visible():  # the claims service hears of the new due date through the broker
            await page.wait_for_timeout(250)
            await page.goto(new_claim)
    assert await page.get_by_role("heading", name=re.compile("New Progress Claim: PO-1")).is_visible()
    ask = f"Ask Alex Admin (alex@{round_.domain}) to create it on your behalf."
    assert ask in await page.locator(".banner").inner_text()
    assert await page.get_by_role("button", name="Create progress claim").count() == 0
    await see_no_sideways_scrolling(page, "the New Progress Claim page")


async def see_no_sideways_scrolling(page, what: str) -> None:
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{what} scrolls {overflow} px sideways at {PHONE['width']} px wide"


async def lines_taken(element, words: str) -> int:
    """How many lines `words` take where the element shows them: on a phone card, more than one for a short
    word means the card squeezed it into a sliver."""
    return await element.evaluate(
        """(element, words) => {
            const texts = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
            for (let text = texts.nextNode(); text; text = texts.nextNode()) {
                const at = text.data.indexOf(words);
                if (at >= 0) {
                    const range = document.createRange();
                    range.setStart(text, at);
                    range.setEnd(text, at + words.length);
                    return new Set([...range.getClientRects()].map((line) => Math.round(line.top))).size;
                }
            }
            return 0;
        }""",
        words,
    )


def row(page, round_, name: str):
    """The board's row of one contact."""
    return page.locator("tr", has_text=round_.contact(name)["email"])


def _answer_links(message) -> list[str]:
    html = message.get_body(("html",)).get_content()
    return [href for href in re.findall(r'href="([^"]+)"', html) if "answer=" in href]


async def _give_password(pool, email: str, password: str) -> None:
    """As `itb users set-password` would, once the claims service has heard of the user from the ERP."""
    async with asyncio.timeout(20):
        while (user_id := await pool.fetchval("SELECT user_id FROM erp_users WHERE email = $1", email)) is None:
            await asyncio.sleep(0.1)
    async with pool.acquire() as connection:
        await accounts.set_password(connection, user_id, password, datetime.now(UTC))
