"""The payment-schedule clock (rule 18c): by which day the builder must answer a submitted claim. Pure rules, in
shared/ because three services count these business days: claims (the due day), periods (the board's days left)
and the notifier (the reminder two business days before).

Each Australian state and territory, and New Zealand, has a Security of Payment Act: once a payment claim is
served, the respondent has a fixed number of business days to give a payment schedule (or an earlier time the
contract sets). Each figure below is cited beside its Act and section. Business days are weekdays that are not a
public holiday of the region (the `holidays` library, maintained upstream) nor a day the Act itself excludes.

Where the figure or the business-day rule could not be confirmed from a source readable while this was built,
the entry says so: a lawyer should confirm those before a builder relies on them. Meanwhile a day an Act is only
reported to leave out (a Christmas shutdown read in summaries, not in the Act) is counted as a business day: the
due day shown can then come earlier than the Act's, never later, and a builder who answers early loses nothing,
while one who answers late may owe the whole amount claimed.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays


def _days(start: tuple[int, int], end: tuple[int, int]) -> frozenset[tuple[int, int]]:
    """(month, day) pairs from start to end inclusive; an end before the start runs on into January."""
    first = date(2001, *start)  # any year without 29 February serves
    last = date(2001 if end >= start else 2002, *end)
    count = (last - first).days
    return frozenset(((first + timedelta(days=n)).month, (first + timedelta(days=n)).day) for n in range(count + 1))


_27_TO_31_DECEMBER = _days((12, 27), (12, 31))


@dataclass(frozen=True)
class SecurityOfPaymentAct:
    """One region's Act: the business days allowed for a payment schedule, and the days it does not count."""

    name: str
    schedule_days: int
    section: str  # where schedule_days is found
    excluded_days: frozenset[tuple[int, int]]  # (month, day) never business days under the Act
    business_day_rule: str  # where the definition of business (or working) day is found, and what it says
    country: str  # for the holiday library
    subdivision: str | None

    def citation(self) -> str:
        return f"{self.name}, {self.section}"


ACTS: dict[str, SecurityOfPaymentAct] = {
    "AU-NSW": SecurityOfPaymentAct(
        name="Building and Construction Industry Security of Payment Act 1999 (NSW)",
        # s 14(4)(b)(ii) ("within 10 business days after the payment claim is served, whichever time expires
        # earlier") and s 4(1) read in verbatim quotations of the version in force from 20 August 2024, taken from
        # legislation.nsw.gov.au; s 14(4) also in an older reproduction of s 14 (recoup.com.au).
        schedule_days=10,
        section="s 14(4)(b)(ii)",
        excluded_days=_27_TO_31_DECEMBER,
        business_day_rule=(
            's 4(1): "any day other than—(a) a Saturday, Sunday or public holiday, or (b) 27, 28, 29, 30 or 31 '
            'December"'
        ),
        country="AU",
        subdivision="NSW",
    ),
    "AU-VIC": SecurityOfPaymentAct(
        name="Building and Construction Industry Security of Payment Act 2002 (Vic)",
        # s 15(4)(b)(ii) and s 4 were read on AustLII as they stood before the Building Legislation Amendment
        # (Fairer Payments on Jobsites and Other Matters) Act 2025, in force from 15 April 2026 by law firms'
        # accounts. That Act rewrites s 15 and, by the same accounts, takes 22 December to 10 January out of business
        # days; neither amended text was read. Until it is, those days still count: the due day can only come
        # earlier than the Act's, never later. Melbourne Cup Day, which a council outside Melbourne may move, is
        # left out as the holidays library's VIC list has it; whether it is a holiday "throughout Victoria" is to be
        # confirmed.
        schedule_days=10,
        section="s 15(4)(b)(ii) (as before the 2025 amendments; to be confirmed)",
        excluded_days=frozenset(),
        business_day_rule=(
            's 4 before the 2025 amendments: "a day that is not—(a) a Saturday or Sunday; or (b) a day that is wholly '
            'or partly observed as a public holiday throughout Victoria"; the amended definition (reported to leave '
            "out 22 December to 10 January) is to be confirmed"
        ),
        country="AU",
        subdivision="VIC",
    ),
    "AU-QLD": SecurityOfPaymentAct(
        name="Building Industry Fairness (Security of Payment) Act 2017 (Qld)",
        schedule_days=15,
        section="s 76(1)(b)",
        # The Queensland Building and Construction Commission's reading of the definition: 22 December to
        # 10 January inclusive are never business days.
        excluded_days=_days((12, 22), (1, 10)),
        business_day_rule=(
            "schedule 2: not a Saturday, Sunday, public, special or bank holiday, nor a day from 22 December to "
            "10 January"
        ),
        country="AU",
        subdivision="QLD",
    ),
    "AU-WA": SecurityOfPaymentAct(
        name="Building and Construction Industry (Security of Payment) Act 2021 (WA)",
        # s 25(1) read in the official consolidated text in force from 1 February 2024 (legislation.wa.gov.au): a
        # payment schedule is given "before the earlier of ... (b) 15 business days after the payment claim is
        # made". The definition of business day in s 4 was not read.
        schedule_days=15,
        section="s 25(1)(b)",
        excluded_days=frozenset(),
        business_day_rule="s 4 to be confirmed: counted as weekdays that are not WA public holidays",
        country="AU",
        subdivision="WA",
    ),
    "AU-SA": SecurityOfPaymentAct(
        name="Building and Construction Industry Security of Payment Act 2009 (SA)",
        # The 15 days read in the Act as made (AustLII), in s 16(1)(b)(ii), which repeats the time for a payment
        # schedule: "within 15 business days after the payment claim is served". Section 14, which sets it, the
        # definition of business day and any later amendment were not read.
        schedule_days=15,
        section="s 14(4) (section to be confirmed)",
        excluded_days=frozenset(),
        business_day_rule="s 4 to be confirmed: counted as weekdays that are not SA public holidays",
        country="AU",
        subdivision="SA",
    ),
    "AU-TAS": SecurityOfPaymentAct(
        name="Building and Construction Industry Security of Payment Act 2009 (Tas)",
        # 10 business days for commercial work (the Department of Justice's summary); 20 for residential work for
        # an owner, not a builder's case here. Section 19 (read, as made) sets the consequence of missing the
        # "relevant period"; the section fixing that period is not confirmed. A law firm reports that an amendment
        # took 27 to 31 December out of business days; not read, so those days still count (an earlier due day).
        schedule_days=10,
        section="s 18 (section to be confirmed)",
        excluded_days=frozenset(),
        business_day_rule="s 4 to be confirmed: counted as weekdays that are not Tasmanian public holidays",
        country="AU",
        subdivision="TAS",
    ),
    "AU-ACT": SecurityOfPaymentAct(
        name="Building and Construction Industry (Security of Payment) Act 2009 (ACT)",
        schedule_days=10,
        # The figure and the dictionary's 27 to 31 December are from summaries of the Act; none of it was read in
        # its text.
        section="s 16 (section to be confirmed)",
        excluded_days=frozenset(),
        business_day_rule=(
            "dictionary, to be confirmed: counted as weekdays that are not ACT public holidays (27 to 31 December, "
            "reported to be left out, are counted until read)"
        ),
        country="AU",
        subdivision="ACT",
    ),
    # AU-NT: the Construction Contracts (Security of Payments) Act 2004 (NT) has no payment-schedule step (a
    # payment dispute arises instead), so there is no clock for the Northern Territory.
}

NEW_ZEALAND = SecurityOfPaymentAct(
    name="Construction Contracts Act 2002 (NZ)",
    schedule_days=20,
    section="s 22(b) (to be confirmed)",
    # The 20 working days and 24 December to 5 January are the Building Disputes Tribunal's reading of ss 22 and 5
    # (the Act's text was not read). Public holidays are New Zealand's national ones: whether s 5 also leaves out
    # a province's anniversary day is to be confirmed. If it does, the holidays library has them by ISO
    # subdivision (holidays.NZ(subdiv="AUK") holds Auckland Anniversary Day), so the region would pick its own.
    excluded_days=frozenset(),
    business_day_rule=(
        "s 5 working day, to be confirmed: counted as weekdays that are not national public holidays (24 December "
        "to 5 January, reported to be left out, are counted until read)"
    ),
    country="NZ",
    subdivision=None,
)


def act_for(region: str | None) -> SecurityOfPaymentAct | None:
    """The Act governing a project in this ISO 3166-2 region; None where there is no payment-schedule clock."""
    if not region:
        return None
    region = region.upper()
    if region == "NZ" or region.startswith("NZ-"):
        return NEW_ZEALAND  # the New Zealand Act applies nationwide
    return ACTS.get(region)


@cache
def _holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision)


def is_business_day(act: SecurityOfPaymentAct, day: date) -> bool:
    return (
        day.weekday() < 5
        and (day.month, day.day) not in act.excluded_days
        and day not in _holidays(act.country, act.subdivision)
    )


def add_business_days(act: SecurityOfPaymentAct, start: date, days: int) -> date:
    """The business day `days` business days after `start` (the day of service is not counted)."""
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(act, day):
            counted += 1
    return day


def business_days_between(act: SecurityOfPaymentAct, today: date, due: date) -> int:
    """Business days left after today up to and including the due day (0 on the day itself or after)."""
    count = 0
    day = today
    while day < due:
        day += timedelta(days=1)
        if is_business_day(act, day):
            count += 1
    return count


def schedule_days(act: SecurityOfPaymentAct, project_days: int | None) -> int:
    """The Act's figure, or the project's earlier number: a project may shorten the time, never lengthen it."""
    if project_days is None:
        return act.schedule_days
    return min(project_days, act.schedule_days)


def payment_schedule_due(region: str | None, submitted_on: date, project_days: int | None = None) -> date | None:
    """Rule 18c: the day by which the builder must give a payment schedule for a claim submitted (served) on
    `submitted_on` (the project's local day); None where the region has no such Act."""
    act = act_for(region)
    if act is None:
        return None
    return add_business_days(act, submitted_on, schedule_days(act, project_days))


def business_days_left(region: str | None, today: date, due: date) -> int | None:
    """How many business days remain after today up to the due day (rule 18c); None where there is no clock."""
    act = act_for(region)
    return None if act is None else business_days_between(act, today, due)


def reminder_day(region: str | None, due: date) -> date | None:
    """Two business days before the due day: when the administrator is reminded (rule 18c)."""
    act = act_for(region)
    if act is None:
        return None
    day = due
    counted = 0
    while counted < 2:
        day -= timedelta(days=1)
        if is_business_day(act, day):
            counted += 1
    return day
