"""The money of a progress claim (rule 17): per schedule of values line and in total, in Decimal, to the cent.

Each line's retention is rounded half-up to the cent and the totals are the sums of the lines, so the page's
columns always add up to its totals. "Less previous claims" is what the commitment's previous claim earned
less retention, so claim after claim the payments due add up to what has been earned.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class AmountError(ValueError):
    """An amount a person typed that cannot be claimed; the message says why, next to the field."""


LARGEST = Decimal("999999999999.99")  # no schedule of values line comes near a trillion
_TYPED_AMOUNT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)", re.ASCII)
_NOT_AN_AMOUNT = "Enter an amount with at most two digits after the point, such as 1250.50."


def parse_amount(text: str) -> Decimal:
    """An amount as typed ("1,250.50", "$80", "" for nothing), or AmountError saying what is wrong."""
    cleaned = text.strip().replace(",", "").removeprefix("$").strip()
    if not cleaned:
        return ZERO
    # Digits and a point only: Decimal would also read "NaN", "1e999", "1_000" and digits of other scripts.
    if not _TYPED_AMOUNT.fullmatch(cleaned):
        raise AmountError(_NOT_AN_AMOUNT)
    amount = Decimal(cleaned)
    if abs(amount) > LARGEST:
        raise AmountError("That amount is far larger than any line of the schedule of values.")
    if amount < 0:
        raise AmountError("Enter an amount of zero or more.")
    if amount != amount.quantize(CENT):
        raise AmountError("Enter the amount to the cent: at most two digits after the point.")
    return amount.quantize(CENT)


@dataclass(frozen=True)
class LineInput:
    line_id: str
    cost_code: str
    description: str
    scheduled_value: Decimal
    previous: Decimal  # work completed in previous claims
    this_period: Decimal
    materials_stored: Decimal


@dataclass(frozen=True)
class Line(LineInput):
    """A line as the claim page shows it: what was entered, and what follows from it."""

    total_to_date: Decimal
    percent_complete: Decimal  # of the scheduled value, to one decimal place
    balance_to_finish: Decimal
    retention: Decimal


@dataclass(frozen=True)
class Totals:
    total_completed_and_stored: Decimal
    retention: Decimal
    total_earned_less_retention: Decimal
    less_previous_claims: Decimal
    current_payment_due: Decimal


@dataclass(frozen=True)
class Claim(Totals):
    lines: tuple[Line, ...]
    retention_percent: Decimal

    def totals(self) -> dict[str, Decimal]:
        """The totals alone, by name (for the events and the API)."""
        return {name: getattr(self, name) for name in Totals.__dataclass_fields__}


def over_claimed(line: LineInput) -> bool:
    return line.previous + line.this_period + line.materials_stored > line.scheduled_value


def work_out(lines: Sequence[LineInput], retention_percent: Decimal, previously_earned: Decimal) -> Claim:
    """The claim's columns and totals; `previously_earned` is the previous claim's earned less retention."""
    worked = tuple(_line(line, retention_percent) for line in lines)
    total = sum((line.total_to_date for line in worked), ZERO)
    retention = sum((line.retention for line in worked), ZERO)
    earned = total - retention
    return Claim(
        lines=worked,
        retention_percent=retention_percent,
        total_completed_and_stored=total,
        retention=retention,
        total_earned_less_retention=earned,
        less_previous_claims=previously_earned,
        current_payment_due=earned - previously_earned,
    )


def _line(line: LineInput, retention_percent: Decimal) -> Line:
    total = line.previous + line.this_period + line.materials_stored
    percent = (
        (total * 100 / line.scheduled_value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if line.scheduled_value
        else Decimal("0.0")
    )
    return Line(
        **vars(line),
        total_to_date=total,
        percent_complete=percent,
        balance_to_finish=line.scheduled_value - total,
        retention=to_cents(total * retention_percent / 100),
    )
