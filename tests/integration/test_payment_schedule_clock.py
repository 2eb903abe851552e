"""The payment-schedule clock (rule 18c) in the claims service over real HTTP, PostgreSQL and Kafka: a claim
submitted on a project without a region has no clock; once the ERP puts the project in AU-NSW, a submission
carries the day the builder's payment schedule is due, the claim page counts the business days left, approval
stops the clock; an administrator may shorten the Act's time, never lengthen it."""

import httpx
import pytest

from shared.erp import apply_commitment
from tests.factories import commitment
from tests.integration.claims_desk import ALEX, JANE, NELL, claims_desk, fill_in
from tests.integration.test_claim_review import review, submitted_claim


@pytest.fixture
async def desk(infrastructure, database_for):
    async with claims_desk(infrastructure, database_for) as desk:
        yield desk


async def move_project_to(desk, region: str) -> None:
    """The ERP's next version of the desk's commitment, its project now in `region`."""
    sheet = commitment(
        desk.commitment_id,
        version=2,
        project_id=desk.project,
        invoice_contacts=[desk.contact(JANE), desk.contact(NELL)],
        schedule_of_values=[
            {"line_id": "1", "cost_code": "03-300", "description": "Footings", "scheduled_value": "125000.00"},
            {
                "line_id": "2",
                "cost_code": "03-400",
                "description": "<script>Walls</script>",
                "scheduled_value": "80000.00",
            },
        ],
        project={
            "id": desk.project,
            "name": "Harbour Tower",
            "timezone": "Australia/Sydney",
            "currency": "AUD",
            "company_name": "Acme Builders Pty Ltd",
            "region": region,
        },
    )
    async with desk.pool.acquire() as connection:
        assert await apply_commitment(connection, sheet)


async def test_a_claim_in_nsw_carries_its_payment_schedule_due_day_until_approval_stops_the_clock(desk):
    # No region: no clock, on the event or the page.
    jane, claim_path = await submitted_claim(desk)
    [first] = await desk.events("billing.claim.submitted.v1")
    assert first["payment_schedule_due"] is None
    assert "Payment schedule due" not in (await jane.get(claim_path)).text
    alex = await desk.logged_in(ALEX)
    assert (await review(alex, claim_path, "revision-request", reason="Attach the site report.")).status_code == 303

    # The ERP puts the project in New South Wales; the resubmission on Friday 20 November (Sydney) starts the
    # clock: 10 business days (s 14(4)(b)(ii) of the NSW Act) is Friday 4 December.
    await move_project_to(desk, "AU-NSW")
    assert (await fill_in(jane, claim_path, "submit", this_period__1="20000")).status_code == 303
    _, second = await desk.events("billing.claim.submitted.v1")
    assert second["revision"] == 2 and second["payment_schedule_due"] == "2026-12-04"
    page = await alex.get(claim_path)
    assert "Payment schedule due" in page.text and "4 December 2026: 10 business days left" in page.text
    token = await desk.api_token(ALEX)
    async with httpx.AsyncClient(base_url=desk.service.base_url) as api:
        headers = {"Authorization": f"Bearer {token}"}
        claim = (await api.get(f"/api{claim_path}", headers=headers)).json()
        assert claim["payment_schedule_due"] == "2026-12-04" and claim["payment_schedule_clock_running"] is True

        # The project may shorten the Act's ten days, never lengthen them; only its administrator may.
        path = f"/api/projects/{desk.project}/payment-schedule-days"
        longer = await api.put(path, json={"days": 11}, headers=headers)
        assert longer.status_code == 422 and "at most 10 business days" in longer.text
        assert (await api.put(path, json={"days": 5}, headers=headers)).status_code == 200
        jane_token = await desk.api_token(JANE)
        refused = await api.put(path, json={"days": 3}, headers={"Authorization": f"Bearer {jane_token}"})
        assert refused.status_code == 403
        days = await desk.pool.fetchval(
            "SELECT days FROM project_payment_schedule_days WHERE project_id = $1", desk.project
        )
        assert days == 5

        # Approval stops the clock: the page says so, and the API.
        assert (await review(alex, claim_path, "approval")).status_code == 303
        page = await jane.get(claim_path)
        assert "4 December 2026: clock stopped, the claim has been approved" in page.text
        claim = (await api.get(f"/api{claim_path}", headers=headers)).json()
        assert claim["payment_schedule_clock_running"] is False
