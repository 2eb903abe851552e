"""Reviewing a progress claim (rule 18): which claims are reviewed, what a request to revise must say, and until
when a claim sent back may be resubmitted, with the clock passed in."""

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.claims.domain.claims import (
    Commitment,
    FieldErrors,
    Period,
    check_revision_request,
    claim_refusal,
    default_resubmit_by,
    may_edit,
    parse_day,
    require_under_review,
    resubmit_deadline,
)
from shared.contracts.erp import ScheduleOfValuesLine
from shared.errors import Conflict

SYDNEY = "Australia/Sydney"
DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # the end of 5 December in Sydney
NOVEMBER = Period("P", "P-1", date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), DUE_AT, False)
SC_1 = Commitment(
    commitment_id="SC-1",
    project_id="P-1",
    project_name="Harbour Tower",
    company_name="Acme Builders",
    currency="AUD",
    kind="subcontract",
    status="approved",
    number="SC-1",
    title="Formwork",
    vendor_name="Concrete Co",
    retention_percent=Decimal("5"),
    contacts=(),
    lines=(
        ScheduleOfValuesLine(line_id="1", cost_code="03-300", description="Footings", scheduled_value=Decimal("100")),
    ),
    timezone=SYDNEY,
)


def test_only_a_claim_under_review_is_approved_or_sent_back():
    require_under_review("under_review")
    for status in ("draft", "approved", "revise_and_resubmit"):
        with pytest.raises(Conflict, match="only a submitted claim under review"):
            require_under_review(status)


def test_a_contact_may_change_a_claim_sent_back_but_not_one_under_review_or_approved():
    assert may_edit("contact", "revise_and_resubmit", None) is True
    assert may_edit("contact", "revise_and_resubmit", "resubmit_by_passed") is False
    assert may_edit("contact", "under_review", None) is False
    assert may_edit("contact", "approved", None) is False


def test_resubmit_by_ends_at_midnight_in_the_projects_time_zone():
    # 10 December ends at midnight in Sydney, 13:00 UTC (daylight saving time, UTC+11).
    assert resubmit_deadline(date(2026, 12, 10), SYDNEY) == datetime(2026, 12, 10, 13, 0, tzinfo=UTC)


def test_a_claim_sent_back_may_be_resubmitted_after_the_due_date_until_the_end_of_resubmit_by():
    resubmit_by = date(2026, 12, 10)
    end = resubmit_deadline(resubmit_by, SYDNEY)
    after_due = DUE_AT + timedelta(days=2)
    # Rule 15 stops a draft after the due date, but not the claim sent back (rule 18): it is the same claim.
    assert claim_refusal("draft", None, NOVEMBER, SYDNEY, after_due) == "due_date_passed"
    assert claim_refusal("revise_and_resubmit", resubmit_by, NOVEMBER, SYDNEY, after_due) is None
    assert claim_refusal("revise_and_resubmit", resubmit_by, NOVEMBER, SYDNEY, end - timedelta(microseconds=1)) is None
    assert claim_refusal("revise_and_resubmit", resubmit_by, NOVEMBER, SYDNEY, end) == "resubmit_by_passed"
    # Before the due date, too, the day to resubmit by is what counts.
    early = date(2026, 11, 20)
    assert claim_refusal("revise_and_resubmit", early, NOVEMBER, SYDNEY, datetime(2026, 11, 25, tzinfo=UTC)) == (
        "resubmit_by_passed"
    )
    closed = dataclasses.replace(NOVEMBER, closed=True)
    assert claim_refusal("revise_and_resubmit", resubmit_by, closed, SYDNEY, after_due) == "period_closed"


def test_resubmit_by_defaults_to_five_days_later_in_the_projects_time_zone():
    # 14:00 UTC on 5 December is already 6 December in Sydney.
    assert default_resubmit_by(datetime(2026, 12, 5, 14, 0, tzinfo=UTC), SYDNEY) == date(2026, 12, 11)
    assert default_resubmit_by(datetime(2026, 12, 5, 12, 0, tzinfo=UTC), SYDNEY) == date(2026, 12, 10)
    now = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    request = check_revision_request("  Footings unfinished.  ", {"1": " Half done ", "2": ""}, None, SC_1, now)
    assert request.reason == "Footings unfinished."
    assert request.resubmit_by == date(2026, 12, 11)
    assert request.line_notes == {"1": "Half done"}


def test_a_request_to_revise_needs_a_reason_and_a_day_neither_past_nor_more_than_a_year_ahead():
    now = datetime(2026, 12, 5, 14, 0, tzinfo=UTC)  # 6 December in Sydney
    check_revision_request("Why", {}, date(2026, 12, 6), SC_1, now)  # today will do
    check_revision_request("Why", {}, date(2027, 12, 6), SC_1, now)  # a year ahead will do
    cases = [
        (("  ", {}, None), "reason"),
        (("Why", {}, date(2026, 12, 5)), "resubmit_by"),  # yesterday in Sydney, though still today in UTC
        (("Why", {}, date(2027, 12, 7)), "resubmit_by"),
        (("Why", {"9": "No such line"}, None), "note.9"),
        (("Why", {"1": "x" * 2001}, None), "note.1"),
        (("x" * 4001, {}, None), "reason"),
    ]
    for (reason, notes, resubmit_by), field in cases:
        with pytest.raises(FieldErrors) as refused:
            check_revision_request(reason, notes, resubmit_by, SC_1, now)
        assert list(refused.value.errors) == [field], (reason[:10], notes, resubmit_by)
        assert str(refused.value).startswith("The claim was not sent back: ")


def test_a_day_is_read_as_a_date_field_sends_it():
    assert parse_day("2026-12-10") == date(2026, 12, 10)
    assert parse_day(" ") is None
    for text in ("10/12/2026", "2026-13-01", "tomorrow"):
        with pytest.raises(FieldErrors, match="year-month-day"):
            parse_day(text)
