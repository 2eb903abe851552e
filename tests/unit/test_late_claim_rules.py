"""Asking to claim late (rule 18b): an allowed request lets its contact, for its commitment only, create and
submit the claim until the end of the day allowed in the project's time zone; with the clock passed in."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from services.claims.domain.claims import (
    FieldErrors,
    LateClaimRequest,
    NewClaim,
    check_allowed_until,
    check_late_message,
    check_late_refusal_reason,
    contact_refusal,
    default_allowed_until,
    late_refusal,
    late_window_open,
    parse_allowed_until,
    require_pending,
)
from shared.contracts.base import Contact, Person
from shared.errors import Conflict
from tests.unit.test_claim_review_rules import DUE_AT, NOVEMBER, SC_1, SYDNEY

ANNA = Contact(user_id="anna", name="Anna", email="anna@concrete.test")
BOB = Person(id="bob", name="Bob", email="bob@acme.test")
ASKED = LateClaimRequest(
    request_id="R-1",
    period_id="P",
    project_id="P-1",
    commitment_id="SC-1",
    contact=ANNA,
    asked=BOB,
    message=None,
    requested_at=DUE_AT + timedelta(hours=1),
)
# Allowed until 10 December: the end of that day in Sydney is 13:00 UTC on the 10th.
ALLOWED = dataclasses.replace(ASKED, status="allowed", allowed_until=date(2026, 12, 10), answered_by=BOB)
REFUSED = dataclasses.replace(ASKED, status="refused", reason="The period is being closed.", answered_by=BOB)
END_OF_WINDOW = datetime(2026, 12, 10, 13, 0, tzinfo=UTC)


def test_an_allowed_window_lifts_the_due_dates_refusal_until_the_end_of_the_day_in_the_projects_time_zone():
    before = END_OF_WINDOW - timedelta(seconds=1)
    assert late_refusal("due_date_passed", ALLOWED, "anna", SC_1, NOVEMBER, before) is None
    assert late_refusal("due_date_passed", ALLOWED, "anna", SC_1, NOVEMBER, END_OF_WINDOW) == "due_date_passed"


def test_the_window_is_for_its_contact_and_commitment_only():
    during = END_OF_WINDOW - timedelta(days=1)
    assert late_window_open(ALLOWED, "anna", "SC-1", SYDNEY, during) is True
    assert late_window_open(ALLOWED, "carl", "SC-1", SYDNEY, during) is False
    assert late_window_open(ALLOWED, "anna", "SC-2", SYDNEY, during) is False
    assert late_refusal("due_date_passed", ALLOWED, "carl", SC_1, NOVEMBER, during) == "due_date_passed"


def test_a_pending_or_refused_request_lifts_nothing_and_a_closed_period_stays_closed():
    during = END_OF_WINDOW - timedelta(days=1)
    assert late_refusal("due_date_passed", ASKED, "anna", SC_1, NOVEMBER, during) == "due_date_passed"
    assert late_refusal("due_date_passed", REFUSED, "anna", SC_1, NOVEMBER, during) == "due_date_passed"
    assert late_refusal("due_date_passed", None, "anna", SC_1, NOVEMBER, during) == "due_date_passed"
    assert late_refusal("period_closed", ALLOWED, "anna", SC_1, NOVEMBER, during) == "period_closed"
    closed = dataclasses.replace(NOVEMBER, closed=True)
    assert late_refusal("due_date_passed", ALLOWED, "anna", SC_1, closed, during) == "due_date_passed"
    asking = NewClaim(closed, SC_1, ANNA, None, contact_refusal(DUE_AT, True, during))
    assert asking.may_ask_late is False


def test_a_contact_may_ask_only_after_the_due_date_and_not_while_a_request_waits():
    before_due = DUE_AT - timedelta(minutes=1)
    after_due = DUE_AT + timedelta(minutes=1)
    new = NewClaim(NOVEMBER, SC_1, ANNA, None, contact_refusal(DUE_AT, False, before_due))
    assert new.may_ask_late is False
    new = NewClaim(NOVEMBER, SC_1, ANNA, None, contact_refusal(DUE_AT, False, after_due))
    assert new.may_ask_late is True
    assert dataclasses.replace(new, late=ASKED).may_ask_late is False
    assert dataclasses.replace(new, late=REFUSED).may_ask_late is True


def test_the_day_allowed_until_defaults_to_three_days_later_and_is_neither_past_nor_over_60_days_ahead():
    now = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)  # 7 December in Sydney already
    assert default_allowed_until(now, SYDNEY) == date(2026, 12, 10)
    assert check_allowed_until(None, SYDNEY, now) == date(2026, 12, 10)
    assert check_allowed_until(date(2026, 12, 7), SYDNEY, now) == date(2026, 12, 7)
    assert check_allowed_until(date(2027, 2, 5), SYDNEY, now) == date(2027, 2, 5)
    for day, message in ((date(2026, 12, 6), "has passed"), (date(2027, 2, 6), "within 60 days")):
        with pytest.raises(FieldErrors, match=message) as refused:
            check_allowed_until(day, SYDNEY, now)
        assert set(refused.value.errors) == {"allowed_until"}
    assert parse_allowed_until("") is None
    with pytest.raises(FieldErrors, match="year-month-day"):
        parse_allowed_until("next Friday")


def test_a_refusal_needs_a_reason_and_a_message_is_optional_both_at_most_2000_characters():
    assert check_late_refusal_reason("  Too late.  ") == "Too late."
    for reason in ("   ", "x" * 2001):
        with pytest.raises(FieldErrors) as refused:
            check_late_refusal_reason(reason)
        assert set(refused.value.errors) == {"reason"}
    assert check_late_message("  ") is None
    assert check_late_message("Sorry, I was away.") == "Sorry, I was away."
    with pytest.raises(FieldErrors, match="2,000 characters"):
        check_late_message("x" * 2001)


def test_a_request_is_answered_once_and_not_in_a_closed_period():
    require_pending(ASKED, NOVEMBER)
    for answered in (ALLOWED, REFUSED):
        with pytest.raises(Conflict, match="answered already"):
            require_pending(answered, NOVEMBER)
    with pytest.raises(Conflict, match="The billing period is closed"):
        require_pending(ASKED, dataclasses.replace(NOVEMBER, closed=True))
