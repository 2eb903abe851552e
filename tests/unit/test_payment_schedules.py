"""Rule 18c: the payment-schedule clock's business-day arithmetic, per region, across Christmas, Easter and a
regional public holiday. Each case names the section its figure comes from (see payment_schedules.ACTS) and the
weekdays the count must pass over, so a wrong figure, a missing holiday or a wrong exclusion each fail it."""

from datetime import date, timedelta

import pytest

from shared.payment_schedules import (
    ACTS,
    act_for,
    business_days_between,
    is_business_day,
    payment_schedule_due,
    reminder_day,
)

D = date


def weekdays(first: date, last: date) -> tuple[date, ...]:
    return tuple(
        first + timedelta(days=n) for n in range((last - first).days + 1) if (first + timedelta(days=n)).weekday() < 5
    )


EASTER_2026 = (D(2026, 4, 3), D(2026, 4, 6))  # Good Friday, Easter Monday
# Christmas Day, Boxing Day (observed on Monday 28 December; Proclamation Day in SA) and New Year's Day
CHRISTMAS_2026 = (D(2026, 12, 25), D(2026, 12, 28), D(2027, 1, 1))
WITH_27_TO_31_DECEMBER = tuple(sorted({*CHRISTMAS_2026, *weekdays(D(2026, 12, 27), D(2026, 12, 31))}))
WITH_22_DECEMBER_TO_10_JANUARY = (*weekdays(D(2026, 12, 22), D(2027, 1, 10)), D(2027, 1, 26))  # then Australia Day

# region, section of the figure, business days, what the count crosses, submitted on, due on, weekdays passed over
CASES = [
    # NSW s 14(4)(b)(ii), 10 days; s 4(1) leaves out 27-31 December.
    ("AU-NSW", "s 14(4)(b)(ii)", 10, "Christmas", D(2026, 12, 18), D(2027, 1, 11), WITH_27_TO_31_DECEMBER),
    ("AU-NSW", "s 14(4)(b)(ii)", 10, "Easter", D(2026, 4, 1), D(2026, 4, 17), EASTER_2026),
    ("AU-NSW", "s 14(4)(b)(ii)", 10, "Labour Day", D(2026, 10, 1), D(2026, 10, 16), (D(2026, 10, 5),)),
    # Vic s 15(4)(b)(ii), 10 days; the 2025 amendments' 22 December to 10 January is not counted until read.
    ("AU-VIC", "s 15(4)(b)(ii)", 10, "Christmas", D(2026, 12, 18), D(2027, 1, 6), CHRISTMAS_2026),
    ("AU-VIC", "s 15(4)(b)(ii)", 10, "Easter", D(2026, 4, 1), D(2026, 4, 17), EASTER_2026),
    ("AU-VIC", "s 15(4)(b)(ii)", 10, "Grand Final Friday", D(2026, 9, 21), D(2026, 10, 6), (D(2026, 9, 25),)),
    # Qld s 76(1)(b), 15 days; 22 December to 10 January left out.
    ("AU-QLD", "s 76(1)(b)", 15, "Christmas", D(2026, 12, 18), D(2027, 1, 29), WITH_22_DECEMBER_TO_10_JANUARY),
    ("AU-QLD", "s 76(1)(b)", 15, "Easter", D(2026, 4, 1), D(2026, 4, 24), EASTER_2026),
    ("AU-QLD", "s 76(1)(b)", 15, "Labour Day", D(2026, 4, 29), D(2026, 5, 21), (D(2026, 5, 4),)),
    # WA s 25(1)(b), 15 days; no Christmas exclusion counted (s 4 to be confirmed).
    ("AU-WA", "s 25(1)(b)", 15, "Christmas", D(2026, 12, 18), D(2027, 1, 13), CHRISTMAS_2026),
    ("AU-WA", "s 25(1)(b)", 15, "Easter", D(2026, 4, 1), D(2026, 4, 24), EASTER_2026),
    ("AU-WA", "s 25(1)(b)", 15, "WA Day", D(2026, 5, 29), D(2026, 6, 22), (D(2026, 6, 1),)),
    # SA s 14(4) (to be confirmed; the 15 days read in s 16(1)(b)(ii)); no Christmas exclusion counted.
    ("AU-SA", "s 14(4)", 15, "Christmas", D(2026, 12, 18), D(2027, 1, 13), CHRISTMAS_2026),
    ("AU-SA", "s 14(4)", 15, "Easter", D(2026, 4, 1), D(2026, 4, 24), EASTER_2026),
    ("AU-SA", "s 14(4)", 15, "Adelaide Cup Day", D(2026, 3, 6), D(2026, 3, 30), (D(2026, 3, 9),)),
    # Tas s 18 (to be confirmed), 10 days; the reported 27-31 December exclusion is not counted until read.
    ("AU-TAS", "s 18", 10, "Christmas", D(2026, 12, 18), D(2027, 1, 6), CHRISTMAS_2026),
    ("AU-TAS", "s 18", 10, "Easter", D(2026, 4, 1), D(2026, 4, 17), EASTER_2026),
    ("AU-TAS", "s 18", 10, "Eight Hours Day", D(2026, 3, 6), D(2026, 3, 23), (D(2026, 3, 9),)),
    # ACT s 16 (to be confirmed), 10 days; the reported 27-31 December exclusion is not counted until read.
    ("AU-ACT", "s 16", 10, "Christmas", D(2026, 12, 18), D(2027, 1, 6), CHRISTMAS_2026),
    ("AU-ACT", "s 16", 10, "Easter", D(2026, 4, 1), D(2026, 4, 17), EASTER_2026),
    ("AU-ACT", "s 16", 10, "Canberra Day", D(2026, 3, 6), D(2026, 3, 23), (D(2026, 3, 9),)),
    ("AU-ACT", "s 16", 10, "Reconciliation Day", D(2027, 5, 27), D(2027, 6, 11), (D(2027, 5, 31),)),
    # NZ Construction Contracts Act 2002 s 22(b) (to be confirmed), 20 working days, nationwide; the reported
    # 24 December to 5 January exclusion is not counted until read. The day after New Year's Day (Saturday 2
    # January) is observed on Monday 4 January.
    ("NZ-AUK", "s 22(b)", 20, "Christmas", D(2026, 12, 18), D(2027, 1, 21), (*CHRISTMAS_2026, D(2027, 1, 4))),
    ("NZ-AUK", "s 22(b)", 20, "Easter and Anzac Day", D(2026, 4, 1), D(2026, 5, 4), (*EASTER_2026, D(2026, 4, 27))),
    ("NZ-AUK", "s 22(b)", 20, "Labour Day", D(2026, 10, 23), D(2026, 11, 23), (D(2026, 10, 26),)),
    # Auckland Anniversary Day (26 January 2026) stays a working day until s 5 is read to leave it out.
    ("NZ-AUK", "s 22(b)", 20, "Auckland Anniversary Day", D(2026, 1, 20), D(2026, 2, 18), (D(2026, 2, 6),)),
]


@pytest.mark.parametrize(
    ("region", "section", "days", "across", "submitted_on", "due_on", "passed_over"),
    CASES,
    ids=[f"{region} {section} across {across}" for region, section, _, across, *_ in CASES],
)
def test_the_payment_schedule_falls_due_the_acts_number_of_business_days_after_submission(
    region, section, days, across, submitted_on, due_on, passed_over
):
    act = act_for(region)
    cited = f"{region}, {days} business days under {section}, across {across}"
    assert act is not None, cited
    assert section in act.section, cited
    assert act.schedule_days == days, cited
    assert payment_schedule_due(region, submitted_on) == due_on, cited
    assert business_days_between(act, submitted_on, due_on) == days, cited
    not_counted = [day for day in weekdays(submitted_on + timedelta(days=1), due_on) if not is_business_day(act, day)]
    assert not_counted == sorted(passed_over), cited


def test_every_act_is_tested_across_christmas_easter_and_a_regional_holiday():
    for region in [*ACTS, "NZ-AUK"]:
        crossed = [across for case_region, _, _, across, *_ in CASES if case_region == region]
        assert "Christmas" in crossed, region
        assert any(across.startswith("Easter") for across in crossed), region
        assert any(across != "Christmas" and not across.startswith("Easter") for across in crossed), region


def test_regions_without_a_payment_schedule_act_have_no_clock():
    for region in (None, "", "AU-NT", "US-CA", "GB-ENG"):
        assert payment_schedule_due(region, date(2026, 6, 1)) is None, region


def test_a_project_may_set_an_earlier_number_of_days_but_never_a_later_one():
    # Five business days from Monday 1 June 2026 in NSW, skipping King's Birthday (Monday 8 June).
    assert payment_schedule_due("AU-NSW", date(2026, 6, 1), project_days=5) == date(2026, 6, 9)
    the_acts = payment_schedule_due("AU-NSW", date(2026, 6, 1))
    assert payment_schedule_due("AU-NSW", date(2026, 6, 1), project_days=30) == the_acts


def test_the_reminder_falls_two_business_days_before_the_due_day():
    # Due Monday 11 January 2027 in NSW: two business days before, skipping the weekend, is Thursday 7 January.
    assert reminder_day("AU-NSW", date(2027, 1, 11)) == date(2027, 1, 7)
    assert reminder_day(None, date(2027, 1, 11)) is None


def test_business_days_left_are_none_on_the_due_day_and_after():
    act = act_for("AU-VIC")
    assert business_days_between(act, date(2026, 6, 19), date(2026, 6, 19)) == 0
    assert business_days_between(act, date(2026, 6, 22), date(2026, 6, 19)) == 0
    assert business_days_between(act, date(2026, 6, 17), date(2026, 6, 19)) == 2
