"""Account rules: what a password must be before anything is hashed."""

import pytest

from services.claims.domain.accounts import (
    MAXIMUM_PASSWORD_LENGTH,
    MINIMUM_PASSWORD_LENGTH,
    check_new_password,
    check_password_length,
)
from shared.errors import InvalidRequest


def test_a_new_password_of_the_maximum_length_is_accepted_as_it_is():
    check_new_password("x" * MAXIMUM_PASSWORD_LENGTH)


def test_a_new_password_longer_than_the_maximum_is_refused_saying_the_limit_and_its_length():
    with pytest.raises(InvalidRequest, match=f"at most {MAXIMUM_PASSWORD_LENGTH} characters; this one has 300"):
        check_new_password("x" * 300)


def test_a_new_password_shorter_than_the_minimum_is_refused():
    with pytest.raises(InvalidRequest, match=f"at least {MINIMUM_PASSWORD_LENGTH} characters"):
        check_new_password("x" * (MINIMUM_PASSWORD_LENGTH - 1))


def test_a_password_typed_at_login_longer_than_any_accepted_is_refused_before_it_is_checked():
    check_password_length("short")
    with pytest.raises(InvalidRequest, match="Check what you typed"):
        check_password_length("x" * (MAXIMUM_PASSWORD_LENGTH + 1))
