"""Whatever is typed into an amount field, the claim form gets an amount or a sentence for the field: never another
error (the form's fields go to `parse_amount` as they came)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain.money import LARGEST, AmountError, parse_amount


@given(st.text(max_size=60) | st.from_regex(r"-?[0-9٠-٩𝟘-𝟡]{0,30}[.eE_]?[0-9]{0,30}", fullmatch=True))
def test_anything_typed_is_an_amount_to_the_cent_or_a_sentence(typed):
    try:
        amount = parse_amount(typed)
    except AmountError as error:
        assert str(error).endswith(".")
        return
    assert Decimal(0) <= amount <= LARGEST and amount == amount.quantize(Decimal("0.01"))


@pytest.mark.parametrize(
    "typed", ["1e3", "1E3", "1_000", "١٢٣", "𝟙𝟚", "sNaN", "-Infinity", "0x10", "1.2.3", ".", "-", "12\x0034", "\u202e5"]
)
def test_only_ascii_digits_and_a_point_make_an_amount(typed):
    with pytest.raises(AmountError, match=r"such as 1250\.50"):
        parse_amount(typed)


def test_an_enormous_number_is_said_to_be_too_large_not_worked_out():
    with pytest.raises(AmountError, match="far larger"):
        parse_amount("9" * 5000)
