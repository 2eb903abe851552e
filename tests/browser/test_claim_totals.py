"""The claim page's live totals in a real browser (headless Chromium, JavaScript on): the figures move as the
contact types, worked out as the server works them out (half up, to the cent), and what the server saves is
what the page showed before saving."""

import re
import uuid
from datetime import UTC, date, datetime

from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from shared import period_view
from shared.contracts.base import Person
from shared.contracts.periods import BillingPeriodOpened
from shared.erp import apply_commitment, apply_member_upserted
from tests.factories import commitment, erp_event, member
from tests.support import running_service, service_settings

NOW = datetime(2026, 11, 20, tzinfo=UTC)
PASSWORD = "correct horse battery"
FIGURES = ("total-completed", "retention", "earned-less-retention", "current-payment-due")
# Amounts chosen so that rounding matters: 7.5% of 1,000.10 is 75.0075 (75.01 half up; 75.00 by truncation),
# and 333.33 of 1,000.00 is 33.333% (33.3%), 666.67 of it 66.667% (66.7%).
TYPED = {"this_period.1": "1,000.10", "stored.1": "", "this_period.2": "333.33", "stored.2": "$333.34"}


async def seed(pool, project: str, period_id: str) -> str:
    """A commitment of two lines at 7.5% retention, Jane its contact with a password, and an open period."""
    jane = member("U-9", project_id=project, name="Jane Citizen", email=f"jane@{project.lower()}.example")
    sheet = commitment(
        f"{project}-SC-1",
        project_id=project,
        retention_percent="7.5",
        invoice_contacts=[{"user_id": "U-9", "name": "Jane Citizen", "email": jane.email}],
        schedule_of_values=[
            {"line_id": "1", "cost_code": "03-300", "description": "Footings", "scheduled_value": "2000.00"},
            {"line_id": "2", "cost_code": "03-400", "description": "Walls", "scheduled_value": "1000.00"},
        ],
    )
    opened = BillingPeriodOpened(
        period_id=period_id,
        project_id=project,
        project_name="Harbour Tower",
        project_timezone="Australia/Sydney",
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        due_at=datetime(2026, 12, 5, 13, 0, tzinfo=UTC),
        opened_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        opened_at=NOW,
    )
    async with pool.acquire() as connection:
        await apply_commitment(connection, sheet)
        await apply_member_upserted(connection, jane, erp_event(jane))
        await accounts.set_password(connection, "U-9", PASSWORD, NOW)
        await period_view.period_opened(connection, opened)
    return sheet.commitment_id


async def test_the_totals_move_as_the_contact_types_and_equal_what_the_server_saves(
    infrastructure, database_for, chromium
):
    from playwright.async_api import expect

    database = await database_for("claims")
    project, period_id = f"P-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    commitment_id = await seed(database.pool, project, period_id)
    async with running_service(claims, service_settings(infrastructure, "claims", database.url)) as service:
        service.app.state.clock.set(NOW)
        page = await (await chromium.new_context(viewport={"width": 1280, "height": 900})).new_page()
        console = []
        page.on("console", lambda entry: console.append(entry.text))
        base = service.base_url
        await page.goto(f"{base}/login?next=/claims/new%3Fcommitment%3D{commitment_id}%26period%3D{period_id}")
        await page.get_by_label("Email").fill(f"jane@{project.lower()}.example")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await page.get_by_role("button", name="Create progress claim").click()
        await expect(page.locator("#current-payment-due")).to_have_text("AUD 0.00")

        for name, amount in TYPED.items():
            await page.locator(f'[id="{name}"]').press_sequentially(amount)
        # Before saving: 1,000.10 + 666.67 = 1,666.77; retention 75.01 + 50.00 = 125.01 (7.5%, half up per line).
        await expect(page.locator("#total-completed")).to_have_text("1,666.77")
        live = {figure: await page.locator(f"#{figure}").inner_text() for figure in FIGURES}
        live_lines = await page.locator("tr[data-line] [data-figure]").all_inner_texts()
        assert live == {
            "total-completed": "1,666.77",
            "retention": "125.01",
            "earned-less-retention": "1,541.76",
            "current-payment-due": "AUD 1,541.76",
        }
        assert live_lines == ["1,000.10", "50.0%", "999.90", "75.01", "666.67", "66.7%", "333.33", "50.00"]

        await page.get_by_role("button", name="Save draft").click()
        await expect(page.get_by_text("Your draft has been saved.")).to_be_visible()
        saved = {figure: await page.locator(f"#{figure}").inner_text() for figure in FIGURES}
        assert saved == live, "what the server saved is what the page showed before saving"
        assert await page.locator("tr[data-line] [data-figure]").all_inner_texts() == live_lines

        # What the server would refuse shows no total rather than a wrong one; it says why when saved.
        await page.locator('[id="stored.1"]').fill("12.345")
        await expect(page.locator("#current-payment-due")).to_have_text("—")
        assert re.search(r"cannot be read as an amount", await page.locator("#totals-note").inner_text())
    assert not [entry for entry in console if "Content Security Policy" in entry], console
