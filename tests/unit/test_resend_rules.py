"""A resend narrowed to contacts, or to the invites not answered yet (rule 6): bounded, checked against the
ERP's contacts, and said back in a sentence. Pure, with the clock passed in."""

from datetime import date

import pytest

from services.periods.domain.periods import (
    MOST_CONTACTS_PER_RESEND,
    InvalidResend,
    PeriodConflict,
    describe_resend,
    open_period,
    resend_contacts,
)
from shared.contracts.base import Person
from shared.contracts.periods import InvitesResendRequested
from tests.unit.period_examples import ADMIN, NOW, SYDNEY

SAM = Person(id="U-2", name="Sam Second", email="sam@acme.example")


def open_november():
    period = open_period(SYDNEY, [], date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), ADMIN, NOW)
    period.events.clear()
    return period


def resends(period) -> list[InvitesResendRequested]:
    return [event for event in period.events if isinstance(event, InvitesResendRequested)]


def test_a_resend_names_each_contact_once_and_none_means_every_contact():
    assert resend_contacts(["U-9", "U-10", "U-9"]) == ["U-9", "U-10"]
    assert resend_contacts(None) is None


def test_a_resend_naming_no_contact_is_refused_saying_how_to_resend_to_everyone():
    with pytest.raises(InvalidResend) as refused:
        resend_contacts([])
    assert str(refused.value) == (
        "The resend names no contact; name at least one, or leave contact_user_ids out to resend to every contact."
    )


def test_a_resend_naming_more_contacts_than_the_limit_is_refused_saying_the_limit():
    assert len(resend_contacts([f"U-{n}" for n in range(MOST_CONTACTS_PER_RESEND)])) == 500
    with pytest.raises(InvalidResend) as refused:
        resend_contacts([f"U-{n}" for n in range(2_001)])
    assert str(refused.value).startswith("A resend names at most 500 contacts and this one names 2,001;")


def test_a_resend_to_one_contact_not_answered_yet_is_recorded_with_who_asked():
    period = open_november()
    period.request_resend(
        SAM, NOW, None, contact_user_ids=["U-9"], only_not_answered=True, contacts_of_commitments={"U-9", "U-10"}
    )
    [resend] = resends(period)
    assert (resend.commitment_ids, resend.contact_user_ids, resend.only_not_answered) == (None, ["U-9"], True)
    assert resend.requested_by == SAM


def test_a_resend_to_everyone_asks_for_every_invite_answered_or_not():
    period = open_november()
    period.request_resend(ADMIN, NOW, None)
    [resend] = resends(period)
    assert (resend.commitment_ids, resend.contact_user_ids, resend.only_not_answered) == (None, None, False)


def test_contacts_not_on_the_project_s_commitments_are_refused_listing_them_and_nothing_is_recorded():
    period = open_november()
    with pytest.raises(InvalidResend) as refused:
        period.request_resend(
            ADMIN, NOW, None, contact_user_ids=["U-9", "U-77", "U-78"], contacts_of_commitments={"U-9"}
        )
    assert str(refused.value).startswith("U-77, U-78 are not contacts of any commitment of project P-100;")
    assert "leave contact_user_ids out to resend to every contact." in str(refused.value)
    assert resends(period) == []


def test_a_contact_not_on_the_commitments_named_is_refused_saying_so():
    period = open_november()
    with pytest.raises(InvalidResend) as refused:
        period.request_resend(
            ADMIN, NOW, ["SC-1"], of_project={"SC-1"}, contact_user_ids=["U-77"], contacts_of_commitments=set()
        )
    assert str(refused.value).startswith("U-77 is not a contact of the commitments named;")
    assert resends(period) == []


def test_a_narrowed_resend_is_still_refused_once_the_due_date_has_passed():
    period = open_november()
    after_due = period.due_at
    with pytest.raises(PeriodConflict, match="has passed, so invites can no longer be resent"):
        period.request_resend(ADMIN, after_due, None, contact_user_ids=["U-9"], contacts_of_commitments={"U-9"})


@pytest.mark.parametrize(
    ("commitment_ids", "contact_user_ids", "only_not_answered", "sentence"),
    [
        (None, None, False, "The invites for every commitment will be sent again."),
        (None, None, True, "The invites not answered yet for every commitment will be sent again."),
        (["SC-1", "SC-1"], None, False, "The invites for 1 commitment will be sent again."),
        (["SC-1", "SC-2"], None, True, "The invites not answered yet for 2 commitments will be sent again."),
        (None, ["U-9"], False, "The invites to 1 contact will be sent again."),
        (["SC-1"], ["U-9", "U-10"], False, "The invites to 2 contacts for 1 commitment will be sent again."),
    ],
)
def test_what_a_resend_will_send_again_is_said_in_a_sentence(
    commitment_ids, contact_user_ids, only_not_answered, sentence
):
    assert describe_resend(commitment_ids, contact_user_ids, only_not_answered) == sentence
