"""Billing period rules 1 to 4, pure, with the clock passed in."""

from datetime import UTC, date, datetime

import pytest

from services.periods.domain.periods import (
    BillingPeriod,
    InvalidPeriodDates,
    PeriodConflict,
    due_date_passed,
    due_instant,
    ends_claiming_today,
    open_period,
)
from shared.contracts.periods import BillingPeriodClosed, BillingPeriodDueDateChanged, BillingPeriodOpened
from tests.unit.period_examples import ADMIN, NOW, SYDNEY


def open_november(existing=(), now=NOW) -> BillingPeriod:
    return open_period(SYDNEY, list(existing), date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), ADMIN, now)


def test_due_date_passes_at_midnight_at_the_start_of_the_next_day_in_the_project_time_zone():
    # 6 December 2026 00:00 in Sydney is daylight saving time (UTC+11).
    assert due_instant(date(2026, 12, 5), "Australia/Sydney") == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


def test_due_date_on_the_eve_of_daylight_saving_starting_passes_at_standard_time_midnight():
    # Sydney moves its clocks forward at 02:00 on Sunday 4 October 2026; midnight before it is still UTC+10.
    assert due_instant(date(2026, 10, 3), "Australia/Sydney") == datetime(2026, 10, 3, 14, 0, tzinfo=UTC)
    assert due_instant(date(2026, 10, 4), "Australia/Sydney") == datetime(2026, 10, 4, 13, 0, tzinfo=UTC)


def test_due_date_on_the_day_daylight_saving_ends_passes_at_standard_time_midnight():
    # Clocks go back at 03:00 on Sunday 5 April 2026: that day has 25 hours, and midnight after it is UTC+10.
    assert due_instant(date(2026, 4, 5), "Australia/Sydney") == datetime(2026, 4, 5, 14, 0, tzinfo=UTC)
    assert due_instant(date(2026, 4, 4), "Australia/Sydney") == datetime(2026, 4, 4, 13, 0, tzinfo=UTC)


def test_a_period_is_due_until_the_last_instant_of_its_due_date_and_no_longer():
    period = open_november()
    assert not period.due_date_has_passed(datetime(2026, 12, 5, 12, 59, 59, tzinfo=UTC))
    assert period.due_date_has_passed(datetime(2026, 12, 5, 13, 0, tzinfo=UTC))


def test_opening_a_period_records_billing_period_opened_with_the_due_instant():
    period = open_november()
    [opened] = period.events
    assert isinstance(opened, BillingPeriodOpened)
    assert opened.project_name == "Harbour Tower"
    assert opened.project_timezone == "Australia/Sydney"
    assert opened.due_at == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    assert opened.opened_by == ADMIN
    assert period.status == "open"


def test_a_period_cannot_end_before_it_starts():
    with pytest.raises(InvalidPeriodDates, match="start date 2026-11-30 is after the end date 2026-11-01") as refused:
        open_period(SYDNEY, [], date(2026, 11, 30), date(2026, 11, 1), date(2026, 12, 5), ADMIN, NOW)
    assert refused.value.field == "end_date"


def test_a_one_day_period_due_the_same_day_is_allowed():
    period = open_period(SYDNEY, [], date(2026, 11, 10), date(2026, 11, 10), date(2026, 11, 10), ADMIN, NOW)
    assert period.start_date == period.end_date == period.due_date


def test_the_due_date_cannot_be_before_the_start_date():
    with pytest.raises(InvalidPeriodDates, match="due date 2026-10-31 is before the start date") as refused:
        open_period(SYDNEY, [], date(2026, 11, 1), date(2026, 11, 30), date(2026, 10, 31), ADMIN, NOW)
    assert refused.value.field == "due_date"


def test_a_period_may_be_opened_after_the_fact_with_its_due_date_already_passed():
    # 20:00 UTC on 5 December is already 6 December in Sydney: the due date has passed there.
    late = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    period = open_november(now=late)
    assert period.status == "open" and period.due_date_has_passed(late)
    [opened] = period.events
    assert isinstance(opened, BillingPeriodOpened) and opened.due_at == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


def test_periods_of_a_project_cannot_overlap():
    november = open_november()
    with pytest.raises(PeriodConflict, match="overlap the billing period 2026-11-01 to 2026-11-30"):
        open_period(SYDNEY, [november], date(2026, 11, 30), date(2026, 12, 31), date(2027, 1, 5), ADMIN, NOW)


def test_opening_a_new_period_closes_the_open_one():
    november = open_november()
    november.events.clear()
    december = open_period(SYDNEY, [november], date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 5), ADMIN, NOW)
    assert november.status == "closed"
    [closed] = november.events
    assert isinstance(closed, BillingPeriodClosed)
    assert closed.reason == "superseded_by_new_period"
    assert december.status == "open"


def test_changing_the_due_date_moves_the_due_instant_and_announces_it():
    period = open_november()
    period.events.clear()
    period.change_due_date(date(2026, 12, 12), ADMIN, NOW)
    [changed] = period.events
    assert isinstance(changed, BillingPeriodDueDateChanged)
    assert changed.previous_due_date == date(2026, 12, 5)
    assert changed.due_at == datetime(2026, 12, 12, 13, 0, tzinfo=UTC)
    assert period.due_at == changed.due_at


def test_setting_the_same_due_date_again_announces_nothing():
    period = open_november()
    period.events.clear()
    period.change_due_date(date(2026, 12, 5), ADMIN, NOW)
    assert period.events == []


def test_the_due_date_may_be_moved_earlier_to_today_which_ends_claiming_at_the_end_of_today():
    period = open_november()
    period.events.clear()
    period.change_due_date(date(2026, 11, 2), ADMIN, NOW)  # NOW is 14:00 on 2 November in Sydney
    [changed] = period.events
    assert changed.due_date == date(2026, 11, 2) and changed.previous_due_date == date(2026, 12, 5)
    assert not period.due_date_has_passed(NOW)
    assert period.due_date_has_passed(datetime(2026, 11, 2, 13, 0, tzinfo=UTC))


def test_the_due_date_may_be_moved_to_a_day_already_passed_which_ends_claiming_now():
    period = open_november()
    period.events.clear()
    period.change_due_date(date(2026, 11, 1), ADMIN, NOW)
    [changed] = period.events
    assert isinstance(changed, BillingPeriodDueDateChanged)
    assert changed.due_at == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)
    assert period.due_date_has_passed(NOW)


def test_the_due_date_cannot_be_moved_before_the_start_date_and_keeps_its_date():
    period = open_november()
    period.events.clear()
    with pytest.raises(InvalidPeriodDates, match="due date 2026-10-31 is before the start date") as refused:
        period.change_due_date(date(2026, 10, 31), ADMIN, NOW)
    assert refused.value.field == "due_date"
    assert period.due_date == date(2026, 12, 5) and period.events == []


def test_the_due_date_of_a_closed_period_cannot_change():
    period = open_november()
    period.close(NOW, ADMIN)
    with pytest.raises(PeriodConflict, match="is closed"):
        period.change_due_date(date(2026, 12, 12), ADMIN, NOW)


def test_a_closed_period_cannot_be_closed_again():
    period = open_november()
    period.close(NOW, ADMIN)
    with pytest.raises(PeriodConflict, match="already closed"):
        period.close(NOW, ADMIN)


def test_a_period_before_the_open_one_cannot_be_opened_while_that_one_is_open():
    november = open_november()
    with pytest.raises(PeriodConflict, match="close that one first"):
        open_period(SYDNEY, [november], date(2026, 10, 1), date(2026, 10, 31), date(2026, 12, 6), ADMIN, NOW)
    assert november.status == "open"


def test_a_due_date_today_ends_claiming_today_but_has_not_passed_and_one_far_ahead_neither():
    # 14:00 on 2 November in Sydney.
    cases = {date(2026, 11, 1): (True, True), date(2026, 11, 2): (False, True), date(2026, 11, 3): (False, False)}
    cases[date(9999, 12, 31)] = (False, False)  # no instant to pass at, and no error
    for due_date, expected in cases.items():
        assert (
            due_date_passed(due_date, SYDNEY.timezone, NOW),
            ends_claiming_today(due_date, SYDNEY.timezone, NOW),
        ) == (expected), due_date
