"""The money of a progress claim (rule 17): examples worked by hand, then properties over many claims."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain.money import AmountError, LineInput, over_claimed, parse_amount, work_out


def line(scheduled="125000.00", previous="0", this_period="0", stored="0", line_id="1") -> LineInput:
    return LineInput(
        line_id=line_id,
        cost_code="03-300",
        description="Footings",
        scheduled_value=Decimal(scheduled),
        previous=Decimal(previous),
        this_period=Decimal(this_period),
        materials_stored=Decimal(stored),
    )


def test_a_first_claim_worked_by_hand():
    claim = work_out(
        [line("125000.00", this_period="30000.00", stored="2500.00"), line("80000.00", this_period="8000.00")],
        retention_percent=Decimal("5"),
        previously_earned=Decimal("0"),
    )
    footings, walls = claim.lines
    assert footings.total_to_date == Decimal("32500.00")
    assert footings.percent_complete == Decimal("26.0")
    assert footings.balance_to_finish == Decimal("92500.00")
    assert footings.retention == Decimal("1625.00")
    assert walls.retention == Decimal("400.00")
    assert claim.total_completed_and_stored == Decimal("40500.00")
    assert claim.retention == Decimal("2025.00")
    assert claim.total_earned_less_retention == Decimal("38475.00")
    assert claim.current_payment_due == Decimal("38475.00")


def test_previous_claims_are_carried_forward():
    claim = work_out(
        [line("125000.00", previous="30000.00", this_period="20000.00")],
        retention_percent=Decimal("10"),
        previously_earned=Decimal("27000.00"),  # the previous claim: 30,000 less 10% retention
    )
    assert claim.lines[0].total_to_date == Decimal("50000.00")
    assert claim.total_earned_less_retention == Decimal("45000.00")
    assert claim.less_previous_claims == Decimal("27000.00")
    assert claim.current_payment_due == Decimal("18000.00")


def test_retention_is_rounded_half_up_to_the_cent_on_each_line():
    # 5% of 0.10 is 0.005: half a cent rounds up; 5% of 0.30 is 0.015, also up (never to even).
    claim = work_out(
        [line("1.00", this_period="0.10"), line("1.00", this_period="0.30", line_id="2")], Decimal("5"), Decimal("0")
    )
    assert [each.retention for each in claim.lines] == [Decimal("0.01"), Decimal("0.02")]
    assert claim.retention == Decimal("0.03")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("", Decimal("0.00")),
        ("1250.5", Decimal("1250.50")),
        ("$1,250.50", Decimal("1250.50")),
        (" 80 ", Decimal("80.00")),
    ],
)
def test_amounts_as_people_type_them(typed, amount):
    assert parse_amount(typed) == amount


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("-5", "zero or more"),
        ("12.345", "at most two digits"),
        ("ten", "such as 1250.50"),
        ("NaN", "such as 1250.50"),
        ("Infinity", "such as 1250.50"),
        ("1e3x", "such as 1250.50"),
        ("1e30", "such as 1250.50"),  # digits and a point only
        ("1" * 40, "far larger"),
    ],
)
def test_amounts_that_cannot_be_claimed_say_why(typed, message):
    with pytest.raises(AmountError, match=message):
        parse_amount(typed)


def test_claiming_more_than_the_scheduled_value_counts_previous_claims_and_stored_materials():
    assert not over_claimed(line("100.00", previous="50.00", this_period="40.00", stored="10.00"))
    assert over_claimed(line("100.00", previous="50.00", this_period="40.00", stored="10.01"))


cents = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def claim_lines(draw):
    lines = []
    for number in range(draw(st.integers(min_value=1, max_value=8))):
        previous, this_period, stored = draw(cents), draw(cents), draw(cents)
        scheduled = previous + this_period + stored + draw(cents)
        lines.append(line(str(scheduled), str(previous), str(this_period), str(stored), line_id=str(number)))
    return lines


@given(claim_lines(), percent, cents)
def test_the_totals_are_the_sums_of_the_lines(lines, retention_percent, previously_earned):
    claim = work_out(lines, retention_percent, previously_earned)
    assert claim.total_completed_and_stored == sum(each.total_to_date for each in claim.lines)
    assert claim.retention == sum(each.retention for each in claim.lines)
    assert claim.total_earned_less_retention == claim.total_completed_and_stored - claim.retention
    assert claim.current_payment_due == claim.total_earned_less_retention - previously_earned
    for each in claim.lines:
        assert each.total_to_date + each.balance_to_finish == each.scheduled_value
        assert each.retention == each.retention.quantize(Decimal("0.01"))
        assert abs(each.retention - each.total_to_date * retention_percent / 100) <= Decimal("0.005")
        assert Decimal(0) <= each.percent_complete <= Decimal(100)


@given(st.lists(st.tuples(cents, cents), min_size=1, max_size=6), percent)
def test_payments_due_claim_after_claim_add_up_to_what_was_earned(periods, retention_percent):
    """Each claim carries the previous one forward, so the payments over the months add up to the last
    claim's earned less retention: nothing is paid twice, nothing is lost to rounding."""
    scheduled = sum((work for work, _ in periods), Decimal(0)) + sum((stored for _, stored in periods), Decimal(0))
    previous, previously_earned, paid = Decimal(0), Decimal(0), Decimal(0)
    for work, stored in periods:
        claim = work_out(
            [line(str(scheduled), str(previous), str(work), str(stored))], retention_percent, previously_earned
        )
        paid += claim.current_payment_due
        previous += work
        previously_earned = claim.total_earned_less_retention
    assert paid == previously_earned
