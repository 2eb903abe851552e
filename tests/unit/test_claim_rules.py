"""Who may do what with a progress claim, and when (rules 15, 16, 18, 19)."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from services.claims.domain.claims import (
    DesignatedCommitment,
    Period,
    contact_refusal,
    may_edit,
    role_for,
    whom_to_ask,
)
from shared.contracts.base import Person

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


OPENER = Person(id="U-1", name="Alex Admin", email="alex@acme.example")
NOVEMBER = Period("P", "P-1", date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), DUE_AT, False, OPENER)


def test_a_refused_contact_is_told_to_ask_who_invited_them_or_else_the_period_s_opener():
    resender = Person(id="U-2", name="Rosa Resender", email="rosa@acme.example")
    assert whom_to_ask(resender, NOVEMBER) == resender
    assert whom_to_ask(None, NOVEMBER) == OPENER


def test_rule_16_a_contact_may_start_a_claim_without_an_invite_while_the_period_is_open_before_its_due_date():
    commitment = DesignatedCommitment("SC-1", "SC-1", "Formwork", "Harbour Tower", True, NOVEMBER, None, None)
    before = DUE_AT - timedelta(microseconds=1)
    assert commitment.may_start_claim(before)
    assert not commitment.may_start_claim(DUE_AT)
    closed = dataclasses.replace(NOVEMBER, closed=True)
    for cannot in (
        DesignatedCommitment("SC-1", "SC-1", "Formwork", "Harbour Tower", False, NOVEMBER, None, None),  # a draft
        DesignatedCommitment("SC-1", "SC-1", "Formwork", "Harbour Tower", True, None, None, None),  # no period yet
        DesignatedCommitment("SC-1", "SC-1", "Formwork", "Harbour Tower", True, closed, None, None),
        DesignatedCommitment("SC-1", "SC-1", "Formwork", "Harbour Tower", True, NOVEMBER, "C-1", "draft"),  # made
    ):
        assert not cannot.may_start_claim(before)
