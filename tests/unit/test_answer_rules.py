"""Answering an invite (rules 10 to 12), pure."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.responses.domain import InviteToAnswer, ReasonNotAccepted, decide, decline_reason
from shared.contracts.base import Contact, Person
from shared.contracts.invites import Invite, InvitedCommitment
from shared.contracts.responses import DeclineReason
from shared.errors import Conflict, NotAllowed

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
BEFORE = DUE_AT - timedelta(days=1)
AFTER = DUE_AT + timedelta(seconds=1)

INVITE = InviteToAnswer(
    invite=Invite(
        invite_id="i-1",
        period_id="p-1",
        project_id="P-100",
        project_name="Harbour Tower",
        project_timezone="Australia/Sydney",
        commitment=InvitedCommitment(
            commitment_id="SC-0042", number="SC-0042", title="Formwork and concrete", vendor_name="Concrete Co"
        ),
        contact=Contact(user_id="U-9", name="Jane Citizen", email="jane@concreteco.example"),
        invited_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        due_at=DUE_AT,
    ),
    period_closed=False,
    answer=None,
)


def test_a_first_answer_is_recorded():
    assert decide(INVITE, "yes", BEFORE, may_answer=True, designated=True)
    assert decide(INVITE, "no", BEFORE, may_answer=True, designated=True)


def test_the_same_answer_again_records_nothing():
    assert not decide(replace(INVITE, answer="no"), "no", BEFORE, may_answer=True, designated=True)
    assert not decide(replace(INVITE, answer="yes"), "yes", BEFORE, may_answer=True, designated=True)


def test_a_no_can_become_a_yes_before_the_due_date():
    assert decide(replace(INVITE, answer="no"), "yes", BEFORE, may_answer=True, designated=True)


def test_a_yes_stands():
    with pytest.raises(Conflict, match="already said Yes"):
        decide(replace(INVITE, answer="yes"), "no", BEFORE, may_answer=True, designated=True)


def test_yes_after_the_due_date_is_refused_naming_who_to_ask():
    with pytest.raises(Conflict, match=r"due date .* has passed.*ask Alex Admin \(alex@acme.example\)"):
        decide(INVITE, "yes", AFTER, may_answer=True, designated=True)


def test_no_after_the_due_date_is_still_recorded():
    assert decide(INVITE, "no", AFTER, may_answer=True, designated=True)


def test_without_read_only_permission_no_answer_is_recorded():
    with pytest.raises(NotAllowed, match="Read Only"):
        decide(INVITE, "no", BEFORE, may_answer=False, designated=True)


def test_a_contact_taken_off_the_commitment_cannot_answer():
    with pytest.raises(NotAllowed, match="no longer a progress claim contact of SC-0042"):
        decide(INVITE, "yes", BEFORE, may_answer=True, designated=False)


def test_a_closed_period_takes_no_answers():
    with pytest.raises(Conflict, match="closed"):
        decide(replace(INVITE, period_closed=True), "no", BEFORE, may_answer=True, designated=True)


def test_a_no_s_reason_is_one_of_four_choices_or_none():
    for code in ("no_work_this_period", "work_complete", "in_dispute"):
        assert decline_reason(code, "") == DeclineReason(code=code)
    assert decline_reason("", "") is None
    assert decline_reason("  ", "   ") is None
    with pytest.raises(ReasonNotAccepted, match="not one of the choices") as refused:
        decline_reason("too_busy", "")
    assert (refused.value.field, refused.value.status_code) == ("reason", 422)


def test_other_keeps_the_contact_s_words_trimmed_and_words_beside_another_choice_are_not_kept():
    assert decline_reason("other", "  Roof not ready  ") == DeclineReason(code="other", text="Roof not ready")
    assert decline_reason("other", "   ") == DeclineReason(code="other")
    assert decline_reason("", " Roof not ready ") == DeclineReason(code="other", text="Roof not ready")
    assert decline_reason("work_complete", "Roof not ready") == DeclineReason(code="work_complete")
    assert decline_reason("other", "<script>alert(1)</script>").text == "<script>alert(1)</script>"


def test_other_s_words_are_at_most_500_characters_after_trimming():
    assert decline_reason("other", " " + "x" * 500 + " ").text == "x" * 500
    with pytest.raises(ReasonNotAccepted, match=r"501 characters long.*500 characters or fewer") as refused:
        decline_reason("other", "x" * 501)
    assert refused.value.field == "reason_text"


def test_other_s_words_hold_no_control_characters():
    for text in ("Roof\nnot ready", "Roof\tnot ready", "Roof\x00!", "Roof\x1b[31m", "Ro\x7fof", "Ro\x85of"):
        with pytest.raises(ReasonNotAccepted, match="control character") as refused:
            decline_reason("other", text)
        assert refused.value.field == "reason_text"
    assert decline_reason("other", "Café – 50 % done").text == "Café – 50 % done"


def test_a_no_given_again_with_a_new_reason_is_recorded_and_without_one_or_the_same_one_is_not():
    declined = replace(INVITE, answer="no", decline_reason=DeclineReason(code="in_dispute"))
    new, same = DeclineReason(code="work_complete"), DeclineReason(code="in_dispute")
    assert decide(declined, "no", AFTER, may_answer=True, designated=True, reason=new)
    assert not decide(declined, "no", BEFORE, may_answer=True, designated=True, reason=same)
    assert not decide(declined, "no", BEFORE, may_answer=True, designated=True)
    # A Yes still stands whatever reason comes with a No, and a closed period takes no reason.
    with pytest.raises(Conflict, match="already said Yes"):
        decide(replace(INVITE, answer="yes"), "no", BEFORE, may_answer=True, designated=True, reason=new)
    with pytest.raises(Conflict, match="closed"):
        decide(replace(declined, period_closed=True), "no", BEFORE, may_answer=True, designated=True, reason=new)
