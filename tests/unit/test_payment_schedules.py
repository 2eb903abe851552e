"""Rule 18c: the payment-schedule clock's business-day arithmetic, per region, across Christmas, Easter and a
regional public holiday. Each row names the Act's section its figure comes from (see payment_schedules.ACTS)."""

from datetime import date

from shared.payment_schedules import (
    act_for,
    business_days_between,
    payment_schedule_due,
    reminder_day,
)

# region, section of the figure, business days, (submitted on, due on) across Christmas, Easter, a regional holiday
DUE_DAYS = [
    # NSW s 14(4)(b)(ii), 10 days; s 4 excludes 27-31 December; Labour Day 5 October 2026.
    (
        "AU-NSW",
        "s 14(4)(b)(ii)",
        10,
        [
            (date(2026, 12, 18), date(2027, 1, 11)),
            (date(2026, 4, 1), date(2026, 4, 17)),
            (date(2026, 10, 1), date(2026, 10, 16)),
        ],
    ),
    # Vic s 15(4)(b)(ii), 10 days; no Christmas shutdown; Melbourne Cup 3 November 2026.
    (
        "AU-VIC",
        "s 15(4)(b)(ii)",
        10,
        [
            (date(2026, 12, 18), date(2027, 1, 6)),
            (date(2026, 4, 1), date(2026, 4, 17)),
            (date(2026, 10, 30), date(2026, 11, 16)),
        ],
    ),
    # Qld s 76(1)(b), 15 days; 22 December to 10 January excluded; Labour Day 4 May 2026.
    (
        "AU-QLD",
        "s 76(1)(b)",
        15,
        [
            (date(2026, 12, 18), date(2027, 1, 29)),
            (date(2026, 4, 1), date(2026, 4, 24)),
            (date(2026, 4, 29), date(2026, 5, 21)),
        ],
    ),
    # WA s 25, 15 days; WA Day 1 June 2026.
    (
        "AU-WA",
        "s 25",
        15,
        [
            (date(2026, 12, 18), date(2027, 1, 13)),
            (date(2026, 4, 1), date(2026, 4, 24)),
            (date(2026, 5, 29), date(2026, 6, 22)),
        ],
    ),
    # SA s 14(4) (to be confirmed), 15 days; Adelaide Cup 9 March 2026.
    (
        "AU-SA",
        "s 14(4)",
        15,
        [
            (date(2026, 12, 18), date(2027, 1, 13)),
            (date(2026, 4, 1), date(2026, 4, 24)),
            (date(2026, 3, 6), date(2026, 3, 30)),
        ],
    ),
    # Tas s 18 (to be confirmed), 10 days; Eight Hours Day 9 March 2026.
    (
        "AU-TAS",
        "s 18",
        10,
        [
            (date(2026, 12, 18), date(2027, 1, 6)),
            (date(2026, 4, 1), date(2026, 4, 17)),
            (date(2026, 3, 6), date(2026, 3, 23)),
        ],
    ),
    # ACT s 16 (to be confirmed), 10 days; 27-31 December excluded; Canberra Day 9 March 2026.
    (
        "AU-ACT",
        "s 16",
        10,
        [
            (date(2026, 12, 18), date(2027, 1, 11)),
            (date(2026, 4, 1), date(2026, 4, 17)),
            (date(2026, 3, 6), date(2026, 3, 23)),
        ],
    ),
    # NZ Construction Contracts Act 2002 s 22(b), 20 working days, nationwide; 24 December to 5 January excluded;
    # Labour Day 26 October 2026.
    (
        "NZ-AUK",
        "s 22(b)",
        20,
        [
            (date(2026, 12, 18), date(2027, 1, 28)),
            (date(2026, 4, 1), date(2026, 5, 4)),
            (date(2026, 10, 23), date(2026, 11, 23)),
        ],
    ),
]


def test_each_region_counts_its_acts_business_days_across_christmas_easter_and_a_regional_holiday():
    for region, section, days, cases in DUE_DAYS:
        act = act_for(region)
        assert act is not None, region
        assert act.schedule_days == days, region
        assert section in act.section, region
        for submitted_on, due_on in cases:
            assert payment_schedule_due(region, submitted_on) == due_on, (region, submitted_on)
            assert business_days_between(act, submitted_on, due_on) == days, (region, submitted_on)


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
