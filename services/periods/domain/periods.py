"""Billing periods and their rules (docs/architecture.md, rules 1 to 4), free of I/O; the clock is passed in."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts.base import Contract, Person
from shared.contracts.periods import (
    BillingPeriodClosed,
    BillingPeriodDueDateChanged,
    BillingPeriodOpened,
    InvitesResendRequested,
)
from shared.errors import Conflict, InvalidRequest


class InvalidPeriodDates(InvalidRequest):
    """A date of a billing period that cannot be; `field` names it ("start_date", "end_date" or "due_date"), so
    that a page can show the message next to that field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class PeriodConflict(Conflict):
    pass


class InvalidResend(InvalidRequest):
    pass


# Dates further than this from today belong to no real project (rule 4); the limit also keeps every date
# well inside what dates and instants can hold (9999-12-31 has no next day to pass at).
PLAUSIBLE_YEARS = 10
# Reminders go at most this many days before the due date (rule 9).
MOST_REMINDER_DAYS = 60
# A resend names at most this many commitments, and this many contacts: its event stays small, and so does the
# notifier's work.
MOST_COMMITMENTS_PER_RESEND = 500
MOST_CONTACTS_PER_RESEND = 500
_IDS_SHOWN = 10


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    timezone: str


def due_instant(due_date: date, timezone: str) -> datetime:
    """The instant the due date passes: the first instant of the next day in the project's time zone.

    Built from the wall-clock midnight of that next day, so a daylight-saving change in between cannot
    move it (rule 3).
    """
    next_midnight = datetime.combine(due_date + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))
    return next_midnight.astimezone(ZoneInfo("UTC"))


def today_in(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def due_date_passed(due_date: date, timezone: str, now: datetime) -> bool:
    """Whether the due date has passed in the project's time zone (rule 3): opening a period with such a date
    records it after the fact (rule 4), which the administrator confirms. A date after today there has not passed
    (and one far in the future has no instant to pass at)."""
    return due_date <= today_in(timezone, now) and now >= due_instant(due_date, timezone)


def ends_claiming_today(due_date: date, timezone: str, now: datetime) -> bool:
    """Whether moving an open period's due date to this day ends claiming today or has ended it (rule 4): today
    or a day already passed in the project's time zone; the administrator confirms it."""
    return due_date <= today_in(timezone, now)


@dataclass
class BillingPeriod:
    id: str
    project: Project
    start_date: date
    end_date: date
    due_date: date
    opened_by: Person
    opened_at: datetime
    status: str = "open"
    closed_at: datetime | None = None
    reminder_days_before_due: int | None = None
    events: list[Contract] = field(default_factory=list, compare=False, repr=False)

    @property
    def due_at(self) -> datetime:
        return due_instant(self.due_date, self.project.timezone)

    def due_date_has_passed(self, now: datetime) -> bool:
        return now >= self.due_at

    def overlaps(self, start_date: date, end_date: date) -> bool:
        return self.start_date <= end_date and start_date <= self.end_date

    def change_due_date(self, new_due_date: date, changed_by: Person, now: datetime) -> None:
        """Move the due date of the open period (rule 4), also earlier: to today, or to a day already passed,
        which ends claiming now (no invites or resends after it, rule 7). Confirming that is the page's part."""
        if self.status != "open":
            raise PeriodConflict(
                f"The billing period {self.describe()} is closed, so its due date can no longer change."
            )
        _check_plausible(now, due_date=new_due_date)
        _check_due_date(self.start_date, new_due_date)
        previous = self.due_date
        if new_due_date == previous:
            return
        self.due_date = new_due_date
        self.events.append(
            BillingPeriodDueDateChanged(
                period_id=self.id,
                project_id=self.project.id,
                previous_due_date=previous,
                due_date=new_due_date,
                due_at=self.due_at,
                changed_by=changed_by,
                changed_at=now,
            )
        )

    def request_resend(
        self,
        requested_by: Person,
        now: datetime,
        commitment_ids: list[str] | None,
        of_project: Collection[str] = (),
        *,
        contact_user_ids: list[str] | None = None,
        only_not_answered: bool = False,
        contacts_of_commitments: Collection[str] = (),
    ) -> None:
        """Send the period's invites again on purpose (rule 6), which only makes sense before the due date;
        the emails go out from `requested_by` (their Invited By).

        `commitment_ids` (from `resend_names`) must all be among `of_project`, the project's commitments;
        `contact_user_ids` (from `resend_contacts`) all among `contacts_of_commitments`, the contacts of the
        commitments named (of all the project's, when none is). `only_not_answered` leaves out the invites
        already answered, Yes or No."""
        if self.status != "open":
            raise PeriodConflict(f"The billing period {self.describe()} is closed, so its invites cannot be resent.")
        if self.due_date_has_passed(now):
            raise PeriodConflict(
                f"The due date {self.due_date.isoformat()} of the billing period {self.describe()} has "
                "passed, so invites can no longer be resent; create any late claims on the contacts' "
                "behalf instead."
            )
        unknown = [commitment_id for commitment_id in commitment_ids or () if commitment_id not in of_project]
        if unknown:
            raise InvalidResend(
                f"{_list_ids(unknown)} {'is not a commitment' if len(unknown) == 1 else 'are not commitments'} "
                f"of project {self.project.id}; check the ids against the project's commitments in the ERP, or "
                "leave commitment_ids out to resend every invite of the period."
            )
        strangers = [user_id for user_id in contact_user_ids or () if user_id not in contacts_of_commitments]
        if strangers:
            of_what = "the commitments named" if commitment_ids else f"any commitment of project {self.project.id}"
            raise InvalidResend(
                f"{_list_ids(strangers)} {'is not a contact' if len(strangers) == 1 else 'are not contacts'} "
                f"of {of_what}; check the ids against the commitments' progress claim contacts in the ERP, or "
                "leave contact_user_ids out to resend to every contact."
            )
        self.events.append(
            InvitesResendRequested(
                period_id=self.id,
                project_id=self.project.id,
                commitment_ids=commitment_ids,
                contact_user_ids=contact_user_ids,
                only_not_answered=only_not_answered,
                requested_by=requested_by,
                requested_at=now,
            )
        )

    def close(self, now: datetime, closed_by: Person | None, reason: str = "closed_by_administrator") -> None:
        if self.status != "open":
            raise PeriodConflict(f"The billing period {self.describe()} is already closed.")
        self.status = "closed"
        self.closed_at = now
        self.events.append(
            BillingPeriodClosed(
                period_id=self.id,
                project_id=self.project.id,
                closed_at=now,
                closed_by=closed_by,
                reason=reason,
            )
        )

    def describe(self) -> str:
        return f"{self.start_date.isoformat()} to {self.end_date.isoformat()}"


def resend_names(commitment_ids: list[str] | None) -> list[str] | None:
    """The commitments a resend names (rule 6), each once and a bounded number; None for every commitment."""
    return _named_once(
        commitment_ids, MOST_COMMITMENTS_PER_RESEND, "commitment", "commitment_ids", "every invite of the period"
    )


def resend_contacts(contact_user_ids: list[str] | None) -> list[str] | None:
    """The contacts a resend names (by user id), each once and a bounded number; None for every contact."""
    return _named_once(contact_user_ids, MOST_CONTACTS_PER_RESEND, "contact", "contact_user_ids", "to every contact")


def _named_once(ids: list[str] | None, most: int, what: str, field: str, otherwise: str) -> list[str] | None:
    if ids is None:
        return None
    names = list(dict.fromkeys(ids))
    resend_all = f"leave {field} out to resend {otherwise}"
    if not names:
        raise InvalidResend(f"The resend names no {what}; name at least one, or {resend_all}.")
    if len(names) > most:
        raise InvalidResend(
            f"A resend names at most {most} {what}s and this one names {len(names):,}; send it in parts of {most} "
            f"or fewer, or {resend_all}."
        )
    return names


def describe_resend(
    commitment_ids: list[str] | None, contact_user_ids: list[str] | None, only_not_answered: bool
) -> str:
    """What a resend will send again, in a sentence for the person who asked."""
    words = ["The invites"]
    if only_not_answered:
        words.append("not answered yet")
    if contact_user_ids is not None:
        words.append(f"to {_count(contact_user_ids, 'contact')}")
    if commitment_ids is not None:
        words.append(f"for {_count(commitment_ids, 'commitment')}")
    elif contact_user_ids is None:
        words.append("for every commitment")
    return " ".join(words) + " will be sent again."


def _count(ids: list[str], what: str) -> str:
    count = len(set(ids))
    return f"{count:,} {what}{'' if count == 1 else 's'}"


def _list_ids(ids: list[str]) -> str:
    shown = ", ".join(_shortened(commitment_id) for commitment_id in ids[:_IDS_SHOWN])
    return shown + (f" and {len(ids) - _IDS_SHOWN:,} more" if len(ids) > _IDS_SHOWN else "")


def _shortened(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def open_period(
    project: Project,
    existing: list[BillingPeriod],
    start_date: date,
    end_date: date,
    due_date: date,
    opened_by: Person,
    now: datetime,
    reminder_days_before_due: int | None = None,
) -> BillingPeriod:
    """Open a new period for the project, closing the one that was open (rules 1 to 4).

    Its due date may have passed already: a period recorded after the fact, for which no invites go out (rule 7)
    and claims are made on the contacts' behalf."""
    _check_plausible(now, start_date=start_date, end_date=end_date, due_date=due_date)
    if start_date > end_date:
        raise InvalidPeriodDates(
            f"The start date {start_date.isoformat()} is after the end date {end_date.isoformat()}; "
            "a billing period must start on or before the day it ends.",
            field="end_date",
        )
    _check_due_date(start_date, due_date)
    for other in existing:
        if other.overlaps(start_date, end_date):
            raise PeriodConflict(
                f"The dates overlap the billing period {other.describe()} of {project.name}; "
                "periods of a project cannot overlap, so choose dates outside it."
            )
    for other in existing:
        if other.status == "open":
            if start_date < other.start_date:
                raise PeriodConflict(
                    f"The open billing period {other.describe()} starts after {start_date.isoformat()}; "
                    "a new period follows the open one, so close that one first to open an earlier period."
                )
            other.close(now, closed_by=opened_by, reason="superseded_by_new_period")

    period = BillingPeriod(
        id=str(uuid.uuid4()),
        project=project,
        start_date=start_date,
        end_date=end_date,
        due_date=due_date,
        opened_by=opened_by,
        opened_at=now,
        reminder_days_before_due=reminder_days_before_due,
    )
    period.events.append(
        BillingPeriodOpened(
            period_id=period.id,
            project_id=project.id,
            project_name=project.name,
            project_timezone=project.timezone,
            start_date=start_date,
            end_date=end_date,
            due_date=due_date,
            due_at=period.due_at,
            opened_by=opened_by,
            opened_at=now,
            reminder_days_before_due=reminder_days_before_due,
        )
    )
    return period


def _check_plausible(now: datetime, **dates: date) -> None:
    """Dates far outside any real project are refused (rule 4)."""
    today = now.date()
    earliest, latest = _years_from(today, -PLAUSIBLE_YEARS), _years_from(today, PLAUSIBLE_YEARS)
    for name, value in dates.items():
        if not earliest <= value <= latest:
            raise InvalidPeriodDates(
                f"The {name.replace('_', ' ')} {value.isoformat()} is more than {PLAUSIBLE_YEARS} years from today; "
                f"billing periods are dated between {earliest.isoformat()} and {latest.isoformat()}, so check the "
                "year.",
                field=name,
            )


def _years_from(day: date, years: int) -> date:
    return day.replace(year=day.year + years, day=28 if (day.month, day.day) == (2, 29) else day.day)


def _check_due_date(start_date: date, due_date: date) -> None:
    """Rule 1: due on or after the day the period starts. A due date already passed is allowed (rule 4)."""
    if due_date < start_date:
        raise InvalidPeriodDates(
            f"The due date {due_date.isoformat()} is before the start date {start_date.isoformat()}; "
            "the due date must be on or after the day the period starts.",
            field="due_date",
        )
