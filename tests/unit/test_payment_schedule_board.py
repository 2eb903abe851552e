"""The board's payment-schedule clock (rule 18c): a submitted claim under review shows the day its payment
schedule is due and the business days left, counted by the project's Act; a review stops it; facts kept before
issue 12, and projects without a region, show nothing."""

from datetime import UTC, date, datetime

from services.periods.domain.board import ClaimSubmitted, build_board, take_in
from tests.unit.test_period_board_rules import (
    PERIOD,
    READERS,
    SC_0042,
    T,
    claim_approved,
    claim_submitted,
    sent_back,
)

DUE = date(2026, 12, 4)  # 10 business days (NSW Act s 14(4)(b)(ii)) after Friday 20 November 2026
MONDAY_23_NOVEMBER = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # noon in Sydney


def row_of(*events, region: str | None = "AU-NSW"):
    facts = None
    for event in events:
        facts = take_in(facts, event)
    board = build_board(PERIOD, "AUD", [SC_0042], READERS, [facts], [], MONDAY_23_NOVEMBER, region=region)
    [section] = board.sections
    [row] = section.rows
    return row


def submitted_with_due(at: datetime = T, revision: int = 1):
    return claim_submitted(at, revision=revision).model_copy(update={"payment_schedule_due": DUE})


def test_a_claim_under_review_shows_its_payment_schedule_due_day_and_the_business_days_left():
    row = row_of(submitted_with_due())
    assert row.claim_status == "submitted"
    # From Monday 23 November: 24, 25, 26, 27 November and 30 November to 4 December are left.
    assert (row.payment_schedule_due, row.payment_schedule_days_left) == (DUE, 9)


def test_approval_or_a_request_to_revise_stops_the_clock_on_the_board():
    for review in (claim_approved(T.replace(hour=5)), sent_back(T.replace(hour=5))):
        row = row_of(submitted_with_due(), review)
        assert (row.payment_schedule_due, row.payment_schedule_days_left) == (None, None), review.TYPE


def test_a_claim_without_a_due_day_or_a_fact_kept_before_issue_12_shows_no_clock():
    assert row_of(claim_submitted(T)).payment_schedule_due is None
    old = ClaimSubmitted.model_validate(
        {"claim_id": "claim-1", "at": T.isoformat(), "current_payment_due": "1.00", "currency": "AUD", "revision": 1}
    )
    assert old.payment_schedule_due is None


def test_a_project_without_a_region_has_no_business_days_to_count():
    row = row_of(submitted_with_due(), region=None)
    assert row.payment_schedule_due == DUE and row.payment_schedule_days_left is None
