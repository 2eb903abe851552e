"""Who may do what with a progress claim, and when (rules 15, 16, 18, 19)."""

from datetime import UTC, datetime, timedelta

import pytest

from services.claims.domain.claims import contact_refusal, may_edit, role_for

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("permission", "designated", "role"),
    [
        ("read_only", True, "contact"),
        ("standard", True, "contact"),
        ("read_only", False, None),  # a contact of another commitment
        ("none", True, None),  # designated, but no Commitments permission
        ("admin", False, "administrator"),
        ("admin", True, "administrator"),
    ],
)
def test_rule_19_decides_who_is_who(permission, designated, role):
    assert role_for(permission, designated) == role


def test_a_contact_is_refused_from_the_first_instant_after_the_due_date():
    assert contact_refusal(DUE_AT, False, DUE_AT - timedelta(microseconds=1)) is None
    assert contact_refusal(DUE_AT, False, DUE_AT) == "due_date_passed"
    assert contact_refusal(DUE_AT, True, DUE_AT) == "due_date_passed"  # announced even when also closed
    assert contact_refusal(DUE_AT, True, DUE_AT - timedelta(days=1)) == "period_closed"


@pytest.mark.parametrize(
    ("role", "status", "refusal", "editable"),
    [
        ("contact", "draft", None, True),
        ("contact", "revise_and_resubmit", None, True),
        ("contact", "under_review", None, False),
        ("contact", "approved", None, False),
        ("contact", "draft", "due_date_passed", False),
        ("contact", "draft", "period_closed", False),
        ("administrator", "draft", "due_date_passed", True),  # on the contact's behalf, at any time
        ("administrator", "under_review", None, False),
    ],
)
def test_who_may_change_a_claim(role, status, refusal, editable):
    assert may_edit(role, status, refusal) is editable
