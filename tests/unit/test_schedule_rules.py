"""Schedules (rule 4a) and the project's reminder days (rule 9), pure, with the clock passed in: the next period's
dates across month ends and daylight-saving changes, every N weeks, the due date, and when each period opens."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.periods.domain.periods import open_period
from services.periods.domain.schedules import (
    InvalidSchedule,
    Schedule,
    ScheduledPeriod,
    due_to_open,
    open_scheduled_period,
    reminder_days_for,
    set_schedule,
)
from shared.contracts.periods import BillingPeriodClosed, BillingPeriodOpened
from tests.unit.period_examples import ADMIN, NOW, SYDNEY

LONG_AGO = date(2020, 1, 1)


def monthly(day: int, days_to_claim: int = 5, opens_from: date | None = LONG_AGO, **fields) -> Schedule:
    """A monthly schedule set at NOW, opening periods from long ago (None: from the day it was set)."""
    schedule = set_schedule(
        SYDNEY,
        cadence="monthly",
        day_of_month=day,
        every_weeks=None,
        first_start=None,
        days_to_claim=days_to_claim,
        reminder_days_before_due=fields.pop("reminder_days_before_due", None),
        set_by=ADMIN,
        now=NOW,
    )
    if opens_from is not None:
        schedule.opens_from = opens_from
    return schedule


def weekly(every: int, first_start: date, days_to_claim: int = 3, opens_from: date = LONG_AGO) -> Schedule:
    schedule = set_schedule(
        SYDNEY,
        cadence="weekly",
        day_of_month=None,
        every_weeks=every,
        first_start=first_start,
        days_to_claim=days_to_claim,
        reminder_days_before_due=None,
        set_by=ADMIN,
        now=datetime.combine(first_start, datetime.min.time(), UTC),
    )
    schedule.opens_from = opens_from
    return schedule


def sydney(year, month, day, hour=0, minute=0) -> datetime:
    """A wall-clock time in Sydney, as the instant (UTC) it is."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Australia/Sydney")).astimezone(UTC)


def test_a_monthly_schedule_s_next_period_follows_the_last_one_and_is_due_days_after_it_ends():
    schedule = monthly(26)
    assert schedule.next_period(date(2026, 11, 25), date(2026, 11, 20)) == ScheduledPeriod(
        date(2026, 11, 26), date(2026, 12, 25), date(2026, 12, 30)
    )
    # Across the year's end.
    assert schedule.next_period(date(2026, 12, 25), date(2026, 12, 1)) == ScheduledPeriod(
        date(2026, 12, 26), date(2027, 1, 25), date(2027, 1, 30)
    )
    # Due on the day it ends.
    assert monthly(1, days_to_claim=0).next_period(date(2026, 11, 30), date(2026, 11, 2)).due_date == date(2026, 12, 31)


def test_a_month_without_the_schedule_s_day_starts_on_its_last_day_and_31_means_the_last_day_of_every_month():
    schedule = monthly(31)
    starts = []
    last_end = date(2027, 1, 30)
    for _ in range(5):
        period = schedule.next_period(last_end, last_end)
        starts.append((period.start_date, period.end_date))
        last_end = period.end_date
    assert starts == [
        (date(2027, 1, 31), date(2027, 2, 27)),
        (date(2027, 2, 28), date(2027, 3, 30)),
        (date(2027, 3, 31), date(2027, 4, 29)),
        (date(2027, 4, 30), date(2027, 5, 30)),
        (date(2027, 5, 31), date(2027, 6, 29)),
    ]
    # A leap year's February ends on the 29th; day 30 starts it there too.
    assert monthly(30).next_period(date(2028, 1, 29), date(2028, 1, 29)).end_date == date(2028, 2, 28)
    assert monthly(30).next_period(date(2028, 2, 28), date(2028, 2, 28)).start_date == date(2028, 2, 29)


def test_saving_or_resuming_a_schedule_never_opens_a_period_already_under_way():
    # Set on 2 November in Sydney (NOW): November's period began on the 1st, so December's comes first.
    schedule = monthly(1, opens_from=None)
    assert schedule.opens_from == date(2026, 11, 2)
    assert schedule.next_period(None, date(2026, 11, 2)) == ScheduledPeriod(
        date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 5)
    )
    # A period that starts on the day it is set opens that day.
    assert monthly(2, opens_from=None).next_period(None, date(2026, 11, 2)).start_date == date(2026, 11, 2)
    # Paused in December and resumed on 10 February: March's period next, none of those missed meanwhile.
    schedule.pause()
    assert due_to_open(schedule, SYDNEY, [], sydney(2027, 1, 1, 0, 5)) is None
    schedule.resume(date(2027, 2, 10))
    assert schedule.next_period(date(2026, 12, 31), date(2027, 2, 10)).start_date == date(2027, 3, 1)
    # Every two weeks from a first start two weeks ago: the period starting today opens today.
    fortnightly = set_schedule(
        SYDNEY,
        cadence="weekly",
        day_of_month=None,
        every_weeks=2,
        first_start=date(2026, 10, 19),
        days_to_claim=3,
        reminder_days_before_due=None,
        set_by=ADMIN,
        now=NOW,
    )
    assert fortnightly.next_period(None, date(2026, 11, 2)).start_date == date(2026, 11, 2)
    assert due_to_open(fortnightly, SYDNEY, [], NOW) is not None


def test_after_the_service_was_stopped_for_months_only_the_latest_period_that_has_started_opens():
    schedule = monthly(1)
    assert schedule.next_period(date(2026, 8, 31), date(2026, 11, 20)).start_date == date(2026, 11, 1)
    # A period opened by hand moves the schedule on: the next starts after it ends.
    assert schedule.next_period(date(2026, 11, 15), date(2026, 11, 2)).start_date == date(2026, 12, 1)


def test_every_n_weeks_from_the_first_start_and_never_before_it():
    schedule = weekly(2, date(2026, 11, 2))
    assert schedule.next_period(None, date(2026, 10, 20)) == ScheduledPeriod(
        date(2026, 11, 2), date(2026, 11, 15), date(2026, 11, 18)
    )
    assert schedule.next_period(date(2026, 11, 15), date(2026, 11, 10)) == ScheduledPeriod(
        date(2026, 11, 16), date(2026, 11, 29), date(2026, 12, 2)
    )
    # Under way today (none before), and after a period opened by hand that ends mid-way through one of its own.
    assert schedule.next_period(None, date(2026, 11, 20)).start_date == date(2026, 11, 16)
    assert schedule.next_period(date(2026, 11, 20), date(2026, 11, 20)).start_date == date(2026, 11, 30)
    assert schedule.next_period(date(2026, 10, 31), date(2026, 10, 20)).start_date == date(2026, 11, 2)
    assert weekly(1, date(2026, 11, 2)).next_period(date(2026, 11, 8), date(2026, 11, 8)).end_date == date(2026, 11, 15)


def test_a_period_opens_at_midnight_in_sydney_on_its_first_day_whichever_side_of_a_daylight_saving_change():
    # Clocks go back at 03:00 on Sunday 5 April 2026 (UTC+11 to UTC+10), forward at 02:00 on Sunday 4 October.
    assert ScheduledPeriod(date(2026, 4, 5), date(2026, 5, 4), date(2026, 5, 9)).opens_at(
        "Australia/Sydney"
    ) == datetime(2026, 4, 4, 13, 0, tzinfo=UTC)
    assert ScheduledPeriod(date(2026, 4, 6), date(2026, 5, 5), date(2026, 5, 10)).opens_at(
        "Australia/Sydney"
    ) == datetime(2026, 4, 5, 14, 0, tzinfo=UTC)
    assert ScheduledPeriod(date(2026, 10, 4), date(2026, 11, 3), date(2026, 11, 8)).opens_at(
        "Australia/Sydney"
    ) == datetime(2026, 10, 3, 14, 0, tzinfo=UTC)
    assert ScheduledPeriod(date(2026, 10, 5), date(2026, 11, 4), date(2026, 11, 9)).opens_at(
        "Australia/Sydney"
    ) == datetime(2026, 10, 4, 13, 0, tzinfo=UTC)


def test_every_two_weeks_across_both_of_sydney_s_daylight_saving_changes_keeps_its_days_and_opens_at_midnight():
    schedule = weekly(2, date(2026, 3, 30))
    # The period that starts after clocks go back on 5 April.
    april = schedule.next_period(date(2026, 4, 12), date(2026, 4, 12))
    assert (april.start_date, april.end_date) == (date(2026, 4, 13), date(2026, 4, 26))
    assert april.opens_at(SYDNEY.timezone) == sydney(2026, 4, 13) == datetime(2026, 4, 12, 14, 0, tzinfo=UTC)
    # The one spanning 4 October, when clocks go forward: still fourteen days, opened at midnight UTC+10.
    october = schedule.next_period(date(2026, 9, 27), date(2026, 9, 27))
    assert (october.start_date, october.end_date) == (date(2026, 9, 28), date(2026, 10, 11))
    following = schedule.next_period(october.end_date, october.end_date)
    assert following.opens_at(SYDNEY.timezone) == datetime(2026, 10, 11, 13, 0, tzinfo=UTC)  # UTC+11 by then


def test_the_scheduled_period_opens_at_midnight_in_the_project_s_time_zone_not_a_moment_before():
    schedule = monthly(5)
    # The period of 5 April 2026: midnight at its start is still daylight time (UTC+11), 13:00 UTC the day before.
    existing = [_period(date(2026, 3, 5), date(2026, 4, 4))]
    assert due_to_open(schedule, SYDNEY, existing, datetime(2026, 4, 4, 12, 59, 59, tzinfo=UTC)) is None
    due = due_to_open(schedule, SYDNEY, existing, datetime(2026, 4, 4, 13, 0, tzinfo=UTC))
    assert due == ScheduledPeriod(date(2026, 4, 5), date(2026, 5, 4), date(2026, 5, 9))
    # October's: midnight on the 5th is after clocks went forward on the 4th, so UTC+11 again; on the 4th, UTC+10.
    existing = [_period(date(2026, 9, 5), date(2026, 10, 4))]
    assert due_to_open(schedule, SYDNEY, existing, sydney(2026, 10, 4, 23, 59)) is None
    assert due_to_open(schedule, SYDNEY, existing, datetime(2026, 10, 4, 13, 0, tzinfo=UTC)) is not None
    assert monthly(4).next_period(date(2026, 10, 3), date(2026, 10, 3)).opens_at(SYDNEY.timezone) == datetime(
        2026, 10, 3, 14, 0, tzinfo=UTC
    )


def test_a_paused_schedule_opens_nothing():
    schedule = monthly(1)
    schedule.pause()
    assert due_to_open(schedule, SYDNEY, [], NOW) is None
    assert open_scheduled_period(schedule, SYDNEY, [], NOW, project_reminder_days=None) is None


def test_the_scheduled_opening_closes_the_open_period_names_the_schedule_s_setter_and_resolves_reminder_days():
    october = _period(date(2026, 10, 1), date(2026, 10, 31))
    now = sydney(2026, 11, 1, 0, 1)
    period = open_scheduled_period(monthly(1), SYDNEY, [october], now, project_reminder_days=3)
    closed, opened = october.events[-1], period.events[-1]
    assert isinstance(closed, BillingPeriodClosed) and closed.reason == "superseded_by_new_period"
    assert isinstance(opened, BillingPeriodOpened)
    assert (opened.start_date, opened.end_date, opened.due_date) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        date(2026, 12, 5),
    )
    assert opened.opened_by == ADMIN and opened.opened_at == now
    assert opened.reminder_days_before_due == 3  # the project's
    own = open_scheduled_period(monthly(1, reminder_days_before_due=7), SYDNEY, [], now, project_reminder_days=3)
    assert own.events[-1].reminder_days_before_due == 7  # the schedule's own


def test_a_period_s_own_reminder_days_override_the_project_s_default():
    assert reminder_days_for(2, 5) == 2
    assert reminder_days_for(None, 5) == 5
    assert reminder_days_for(None, None) is None


def test_a_schedule_that_cannot_be_is_refused_naming_its_field_in_a_sentence():
    cases = [
        (dict(cadence="daily"), "cadence", "Choose how often"),
        (dict(day_of_month=0), "day_of_month", "from 1 to 31"),
        (dict(day_of_month=32), "day_of_month", "from 1 to 31"),
        (dict(cadence="weekly", every_weeks=9, first_start=date(2026, 11, 2)), "every_weeks", "from 1 to 8"),
        (dict(cadence="weekly", every_weeks=2, first_start=None), "first_start", "the day the first period starts"),
        (dict(cadence="weekly", every_weeks=2, first_start=date(2029, 1, 1)), "first_start", "more than a year"),
        (dict(days_to_claim=61), "days_to_claim", "from 0 to 60"),
        (dict(days_to_claim=-1), "days_to_claim", "from 0 to 60"),
        (dict(reminder_days_before_due=0), "reminder_days_before_due", "from 1 to 60"),
    ]
    for fields, field, words in cases:
        given = dict(
            cadence="monthly",
            day_of_month=1,
            every_weeks=None,
            first_start=None,
            days_to_claim=5,
            reminder_days_before_due=None,
        )
        with pytest.raises(InvalidSchedule, match=words) as refused:
            set_schedule(SYDNEY, **(given | fields), set_by=ADMIN, now=NOW)
        assert refused.value.field == field
        assert str(refused.value).endswith(".")


def test_a_schedule_says_itself_in_a_sentence():
    assert monthly(26).describe() == (
        "Monthly, starting on day 26 of each month; each period is due 5 days after it ends."
    )
    assert monthly(31, days_to_claim=0).describe() == (
        "Monthly, starting on the last day of each month; each period is due on the day it ends."
    )
    assert "(or the month's last day, when it is shorter)" in monthly(30).describe()
    assert weekly(2, date(2026, 11, 2), days_to_claim=1).describe() == (
        "Every 2 weeks from 2 November 2026; each period is due 1 day after it ends."
    )


def _period(start: date, end: date):
    return open_period(SYDNEY, [], start, end, end + timedelta(days=5), ADMIN, NOW)
