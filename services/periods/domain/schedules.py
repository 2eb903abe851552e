"""A project's schedule of billing periods (docs/architecture.md, rules 4a and 9), free of I/O; the clock is passed in.

A schedule is monthly, from a day of the month (1 to 31: a month without that day starts on its last day, so 31
means the last day of every month), or every N weeks from a first start. Each period ends the day before the next
one starts and is due `days_to_claim` days after it ends. The schedule opens each of its periods when it starts:
at midnight at the start of its first day in the project's time zone.

Which period opens next: the first of the schedule's periods that starts after the project's last period ends (a
period opened by hand moves the schedule on), and on or after the day the schedule was set or resumed (saving it
never opens a period already under way). When several have started by the time it runs (the service was stopped
for longer than a period), only the latest opens: opening the others would close each at once.
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from services.periods.domain.periods import MOST_REMINDER_DAYS, BillingPeriod, Project, open_period, today_in
from shared.contracts.base import Person
from shared.errors import InvalidRequest

Cadence = Literal["monthly", "weekly"]
CADENCES = ("monthly", "weekly")
MOST_WEEKS = 8
MOST_DAYS_TO_CLAIM = 60


class InvalidSchedule(InvalidRequest):
    """A schedule that cannot be; `field` names the field at fault, so a page can show the message next to it."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ScheduledPeriod:
    start_date: date
    end_date: date
    due_date: date

    def opens_at(self, timezone: str) -> datetime:
        """Midnight at the start of its first day in the project's time zone, as an instant (UTC). Built from the
        wall-clock date, so a daylight-saving change in between cannot move the day it opens."""
        return datetime.combine(self.start_date, time(0), tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


@dataclass
class Schedule:
    project_id: str
    cadence: Cadence
    days_to_claim: int
    set_by: Person
    set_at: datetime
    day_of_month: int | None = None  # monthly
    every_weeks: int | None = None  # weekly
    first_start: date | None = None  # weekly: the first period's start; none starts before it
    reminder_days_before_due: int | None = None  # None: the project's default
    paused: bool = False
    paused_because: str | None = None  # a sentence, when the schedule paused itself
    # The day (in the project's time zone) it was set or last resumed: it opens no period that started before,
    # so that saving or resuming it never opens a period already under way, unasked.
    opens_from: date = date.min

    def pause(self, because: str | None = None) -> None:
        self.paused = True
        self.paused_because = because

    def resume(self, today: date) -> None:
        """Resume the schedule: from its next period that starts today or later (rule 4a)."""
        if self.paused:
            self.paused, self.paused_because = False, None
            self.opens_from = today

    def next_period(self, last_end: date | None, today: date) -> ScheduledPeriod:
        """The period to open next, given the end of the project's last period (None: it has none) and today in
        the project's time zone: the first of the schedule's periods that starts after the last one ends (and on
        or after the day the schedule was set or resumed), or, when several have started by today, the latest."""
        floor = self.opens_from if last_end is None else max(self.opens_from, last_end + timedelta(days=1))
        under_way = self._latest_start_on_or_before(today)
        start = under_way if under_way is not None and under_way >= floor else self._first_start_on_or_after(floor)
        end = self._start_after(start) - timedelta(days=1)
        return ScheduledPeriod(start, end, end + timedelta(days=self.days_to_claim))

    def describe(self) -> str:
        """The schedule in a sentence, for the project's page."""
        if self.cadence == "monthly":
            day = "the last day" if self.day_of_month == 31 else f"day {self.day_of_month}"
            every = f"Monthly, starting on {day} of each month"
            if self.day_of_month and 28 < self.day_of_month < 31:
                every += " (or the month's last day, when it is shorter)"
        else:
            weeks = "week" if self.every_weeks == 1 else f"{self.every_weeks} weeks"
            every = f"Every {weeks} from {self.first_start.day} {self.first_start:%B %Y}"
        due = "on the day it ends" if self.days_to_claim == 0 else f"{_days(self.days_to_claim)} after it ends"
        return f"{every}; each period is due {due}."

    # --- The schedule's periods, by their starts ---

    def _start_after(self, start: date) -> date:
        """The start of the schedule's period after the one starting on `start`."""
        if self.cadence == "monthly":
            return _month_start(_month_index(start) + 1, self.day_of_month)
        return start + timedelta(weeks=self.every_weeks)

    def _first_start_on_or_after(self, day: date) -> date:
        if self.cadence == "monthly":
            month = _month_index(day)
            start = _month_start(month, self.day_of_month)
            return start if start >= day else _month_start(month + 1, self.day_of_month)
        if day <= self.first_start:
            return self.first_start
        return self.first_start + timedelta(weeks=self.every_weeks * -(-(day - self.first_start).days // self._days))

    def _latest_start_on_or_before(self, day: date) -> date | None:
        if self.cadence == "monthly":
            month = _month_index(day)
            start = _month_start(month, self.day_of_month)
            return start if start <= day else _month_start(month - 1, self.day_of_month)
        if day < self.first_start:
            return None
        return self.first_start + timedelta(weeks=self.every_weeks * ((day - self.first_start).days // self._days))

    @property
    def _days(self) -> int:
        return 7 * self.every_weeks


def set_schedule(
    project: Project,
    *,
    cadence: str,
    day_of_month: int | None,
    every_weeks: int | None,
    first_start: date | None,
    days_to_claim: int,
    reminder_days_before_due: int | None,
    set_by: Person,
    now: datetime,
) -> Schedule:
    """A schedule as an administrator sets it (rule 4a): they become Invited By for the periods it opens, from the
    first that starts today (in the project's time zone) or later. Setting a schedule resumes it."""
    today = today_in(project.timezone, now)
    if cadence not in CADENCES:
        raise InvalidSchedule("Choose how often periods start: monthly, or every few weeks.", field="cadence")
    if cadence == "monthly":
        if day_of_month is None or not 1 <= day_of_month <= 31:
            raise InvalidSchedule(
                "Enter the day of the month periods start on, from 1 to 31 (31 for the last day of every month).",
                field="day_of_month",
            )
        every_weeks, first_start = None, None
    else:
        if every_weeks is None or not 1 <= every_weeks <= MOST_WEEKS:
            raise InvalidSchedule(
                f"Enter how many weeks each period lasts, from 1 to {MOST_WEEKS}.", field="every_weeks"
            )
        if first_start is None:
            raise InvalidSchedule("Enter the day the first period starts, such as 2026-12-07.", field="first_start")
        if abs((first_start - today).days) > 366:
            raise InvalidSchedule(
                f"The first start {first_start.isoformat()} is more than a year from today; choose a day within a "
                "year, so that the schedule's periods are the ones you mean.",
                field="first_start",
            )
        day_of_month = None
    if not 0 <= days_to_claim <= MOST_DAYS_TO_CLAIM:
        raise InvalidSchedule(
            f"Enter the days from a period's end to its due date, from 0 to {MOST_DAYS_TO_CLAIM}.",
            field="days_to_claim",
        )
    if reminder_days_before_due is not None and not 1 <= reminder_days_before_due <= MOST_REMINDER_DAYS:
        raise InvalidSchedule(
            f"Enter a whole number of days from 1 to {MOST_REMINDER_DAYS}, or leave it empty for the project's "
            "default.",
            field="reminder_days_before_due",
        )
    return Schedule(
        project_id=project.id,
        cadence=cadence,
        day_of_month=day_of_month,
        every_weeks=every_weeks,
        first_start=first_start,
        days_to_claim=days_to_claim,
        reminder_days_before_due=reminder_days_before_due,
        set_by=set_by,
        set_at=now,
        opens_from=today,
    )


def due_to_open(
    schedule: Schedule, project: Project, existing: list[BillingPeriod], now: datetime
) -> ScheduledPeriod | None:
    """The schedule's next period when it has started in the project's time zone (rule 4a); None otherwise, and
    while the schedule is paused."""
    if schedule.paused:
        return None
    last_end = max((period.end_date for period in existing), default=None)
    upcoming = schedule.next_period(last_end, today_in(project.timezone, now))
    return upcoming if upcoming is not None and now >= upcoming.opens_at(project.timezone) else None


def open_scheduled_period(
    schedule: Schedule,
    project: Project,
    existing: list[BillingPeriod],
    now: datetime,
    project_reminder_days: int | None,
) -> BillingPeriod | None:
    """Open the schedule's next period if it has started (rule 4a), as an administrator's opening does (closing
    the open one, announcing BillingPeriodOpened), with the administrator who set the schedule as Invited By and
    the schedule's reminder days, or else the project's (rule 9). None when no period is due to open."""
    due = due_to_open(schedule, project, existing, now)
    if due is None:
        return None
    return open_period(
        project,
        existing,
        due.start_date,
        due.end_date,
        due.due_date,
        schedule.set_by,
        now,
        reminder_days_for(schedule.reminder_days_before_due, project_reminder_days),
    )


def check_reminder_days(reminder_days_before_due: int | None) -> int | None:
    """The project's default reminder days (rule 9): from 1 to MOST_REMINDER_DAYS, or None for no reminder."""
    if reminder_days_before_due is not None and not 1 <= reminder_days_before_due <= MOST_REMINDER_DAYS:
        raise InvalidSchedule(
            f"Enter a whole number of days from 1 to {MOST_REMINDER_DAYS}, or leave it empty for no reminder.",
            field="project_reminder_days",
        )
    return reminder_days_before_due


def reminder_days_for(own: int | None, project_default: int | None) -> int | None:
    """A period's reminder days (rule 9): its own when it has them, the project's default otherwise."""
    return own if own is not None else project_default


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(month_index: int, day_of_month: int) -> date:
    """The schedule's start in that month: its day, or the month's last day when the month is shorter."""
    year, month = divmod(month_index, 12)
    return date(year, month + 1, min(day_of_month, calendar.monthrange(year, month + 1)[1]))


def _days(count: int) -> str:
    return f"{count} day{'' if count == 1 else 's'}"
