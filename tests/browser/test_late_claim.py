"""Asking to claim late in a real browser (headless Chromium), through the real pages, broker and mail server
(rule 18b): after the due date Jane, on her phone, asks from the New Progress Claim page's banner; Alex gets the
email, follows its link and allows it until a day; Jane gets that email, follows its link, creates and submits her
claim. The events are on `billing.claims`, each page fits a phone, and none breaks its Content-Security-Policy."""

import asyncio
import json
import re

from shared.contracts.topics import BILLING_CLAIMS
from tests.browser.test_claim_review import (
    AFTER_DUE,
    WITHIN,
    log_in,
    review_round,
    see_no_sideways_scrolling,
    set_clocks,
    watch_console,
)
from tests.support import topic_reader


async def test_a_contact_asks_to_claim_late_the_administrator_allows_it_and_the_claim_is_submitted(
    infrastructure,
    database_for,
    chromium,
):
    async with (
        review_round(infrastructure, database_for) as round_,
        topic_reader(round_.bootstrap, BILLING_CLAIMS) as reader,
    ):
        set_clocks(round_, AFTER_DUE)  # 6 December in Sydney: the due date (5 December) has passed
        laptop = await chromium.new_context(viewport={"width": 1280, "height": 900})
        phone = await chromium.new_context(viewport={"width": 375, "height": 740})
        alex, jane = await laptop.new_page(), await phone.new_page()
        console = watch_console(alex, jane)

        # Jane, on her phone, from the banner of the New Progress Claim page.
        new_claim = f"{round_.claims.base_url}/claims/new?commitment={round_.project}-SC-1&period={round_.period_id}"
        await jane.goto(new_claim)
        await log_in(jane, round_, f"jane@{round_.domain}")
        async with asyncio.timeout(WITHIN):
            while "being prepared" in await jane.content():  # the period is on its way to the claims service
                await jane.wait_for_timeout(250)
                await jane.goto(new_claim)
        await jane.get_by_text("The due date 5 December 2026 has passed.").wait_for()
        await see_no_sideways_scrolling(jane, "the New Progress Claim page after the due date")
        await jane.get_by_label("Message").fill("I was on site all week <sorry>.")
        await jane.get_by_role("button", name="Ask Alex Admin to let me claim late").click()
        await jane.get_by_text("Your request to claim late is sent").wait_for()
        assert await jane.get_by_role("button", name=re.compile("to let me claim late")).count() == 0

        # Alex follows the email's link and allows it, three days on by default.
        asked = await mail_saying(round_, "Jane asks to claim late")
        assert "I was on site all week <sorry>." in asked.get_body(("plain",)).get_content()
        [link] = {href for href in re.findall(r'href="([^"]+)"', asked.get_body(("html",)).get_content())}
        assert link.startswith(f"{round_.claims.base_url}/late-claim-requests/")
        await alex.goto(link)
        await log_in(alex, round_, f"alex@{round_.domain}")
        await alex.get_by_role("heading", name=re.compile("Request to claim late")).wait_for()
        assert await alex.get_by_text("I was on site all week <sorry>.").is_visible()
        assert await alex.get_by_label("Allow until").input_value() == "2026-12-09"
        await see_no_sideways_scrolling(alex, "the request's page")
        await alex.get_by_role("button", name="Allow").click()
        await alex.get_by_text("The late claim is allowed").wait_for()
        assert await alex.get_by_role("button", name="Refuse").count() == 0

        # Jane follows her email's link, creates the claim and submits it.
        allowed = await mail_saying(round_, "you may claim late")
        assert "until 9 December 2026" in allowed["Subject"]
        [link] = {href for href in re.findall(r'href="([^"]+)"', allowed.get_body(("html",)).get_content())}
        await jane.goto(link.replace("&amp;", "&"))
        await jane.get_by_text("allowed you to claim late, until the end of 9 December 2026").wait_for()
        await jane.get_by_role("button", name="Create progress claim").click()
        await jane.get_by_label("Work completed this period, Footings").fill("30000")
        await jane.get_by_role("button", name="Submit").click()
        await jane.get_by_text("Your progress claim has been submitted.").wait_for()

        request_id = asked_request_id(asked)
        records = await reader.wait_for(lambda record: record.key == request_id.encode(), count=2, within=WITHIN)
        assert [json.loads(record.value)["type"] for record in records] == [
            "billing.claim.late_claim_requested.v1",
            "billing.claim.window_extended.v1",
        ]
        assert [text for text in console if "Content Security Policy" in text] == []


def asked_request_id(message) -> str:
    return re.search(r"/late-claim-requests/([0-9a-f-]+)", message.get_body(("plain",)).get_content()).group(1)


async def mail_saying(round_, words: str):
    async with asyncio.timeout(WITHIN):
        while not (found := [message for message in round_.mail() if words in message["Subject"]]):
            await asyncio.sleep(0.1)
    return found[0]
