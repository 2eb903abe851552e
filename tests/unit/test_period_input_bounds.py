"""What the periods service accepts from an administrator is bounded: plausible dates (rule 4) and resends that
name a sensible number of the project's own commitments (rule 6). Pure, with the clock passed in."""

from datetime import date

import pytest

from services.periods.domain.periods import (
    MOST_COMMITMENTS_PER_RESEND,
    InvalidPeriodDates,
    InvalidResend,
    open_period,
    resend_names,
)
from shared.contracts.periods import InvitesResendRequested
from tests.unit.period_examples import ADMIN, NOW, SYDNEY


def open_november():
    return open_period(SYDNEY, [], date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), ADMIN, NOW)


@pytest.mark.parametrize(
    ("start", "end", "due", "named"),
    [
        (date(2026, 11, 1), date(2026, 11, 30), date(9999, 12, 31), "due date 9999-12-31"),
        (date(2026, 11, 1), date(9999, 12, 31), date(9999, 12, 31), "end date 9999-12-31"),
        (date(1, 1, 1), date(2026, 11, 30), date(2026, 12, 5), "start date 0001-01-01"),
        (date(2037, 1, 1), date(2037, 1, 31), date(2037, 2, 5), "start date 2037-01-01"),
        (date(2016, 10, 1), date(2016, 10, 31), date(2016, 11, 1), "start date 2016-10-01"),
    ],
)
def test_dates_far_from_today_are_refused_naming_the_date_the_range_and_the_field(start, end, due, named):
    with pytest.raises(InvalidPeriodDates) as refused:
        open_period(SYDNEY, [], start, end, due, ADMIN, NOW)
    assert f"The {named} is more than 10 years from today" in str(refused.value)
    assert "between 2016-11-02 and 2036-11-02" in str(refused.value)
    assert refused.value.field == named.rsplit(" ", 1)[0].replace(" ", "_")


def test_a_period_recorded_after_the_fact_years_ago_but_within_ten_is_accepted():
    period = open_period(SYDNEY, [], date(2017, 1, 1), date(2017, 1, 31), date(2017, 2, 5), ADMIN, NOW)
    assert period.due_date_has_passed(NOW)


def test_a_period_ten_years_ahead_is_still_accepted():
    period = open_period(SYDNEY, [], date(2036, 10, 1), date(2036, 10, 31), date(2036, 11, 2), ADMIN, NOW)
    assert period.due_date == date(2036, 11, 2)


def test_the_due_date_cannot_be_moved_to_the_end_of_time_and_keeps_its_date():
    period = open_november()
    with pytest.raises(InvalidPeriodDates, match="due date 9999-12-31") as refused:
        period.change_due_date(date(9999, 12, 31), ADMIN, NOW)
    assert refused.value.field == "due_date"
    assert period.due_date == date(2026, 12, 5)


def test_a_resend_names_each_commitment_once_and_none_means_every_commitment():
    assert resend_names(["SC-1", "SC-2", "SC-1"]) == ["SC-1", "SC-2"]
    assert resend_names(None) is None


def test_a_resend_naming_no_commitment_is_refused_saying_how_to_resend_every_invite():
    with pytest.raises(InvalidResend, match="leave commitment_ids out to resend every invite"):
        resend_names([])


def test_a_resend_naming_more_commitments_than_the_limit_is_refused_saying_the_limit():
    assert len(resend_names([f"SC-{n}" for n in range(MOST_COMMITMENTS_PER_RESEND)])) == 500
    with pytest.raises(InvalidResend) as refused:
        resend_names([f"SC-{n}" for n in range(150_000)])
    assert str(refused.value).startswith("A resend names at most 500 commitments and this one names 150,000;")


def test_commitments_not_of_the_project_are_refused_listing_them_shortened_and_truncated():
    period = open_november()
    unknown = [f"SC-UNKNOWN-{n}" for n in range(12)] + ["X" * 100]
    with pytest.raises(InvalidResend) as refused:
        period.request_resend(ADMIN, NOW, ["SC-1", *unknown], of_project={"SC-1"})
    message = str(refused.value)
    assert message.startswith("SC-UNKNOWN-0, SC-UNKNOWN-1,")
    assert "SC-UNKNOWN-9 and 3 more are not commitments of project P-100;" in message
    assert "X" * 40 not in message
    assert not [event for event in period.events if isinstance(event, InvitesResendRequested)]


def test_a_resend_of_the_project_s_own_commitments_is_recorded():
    period = open_november()
    period.request_resend(ADMIN, NOW, ["SC-1"], of_project={"SC-1", "SC-2"})
    [resend] = [event for event in period.events if isinstance(event, InvitesResendRequested)]
    assert resend.commitment_ids == ["SC-1"]
