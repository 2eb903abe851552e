"""The period board's late-claim facts (rule 18b), pure: a request and its answer in either order and twice give
the same row: pending with its link's request id, then allowed until a day or refused with the reason."""

import itertools
from datetime import date, timedelta

from services.periods.domain.board import take_in
from shared.contracts.claims import ClaimWindowExtended, LateClaimRequested, LateClaimRequestRefused
from tests.unit.period_examples import ADMIN
from tests.unit.test_period_board_rules import DUE_AT, JANE, PERIOD_ID, fold, row_of

REQUEST = {"period_id": PERIOD_ID, "project_id": "P-100", "commitment_id": "SC-0042", "contact": JANE}
ASKED_AT = DUE_AT + timedelta(hours=2)
ANSWERED_AT = DUE_AT + timedelta(hours=5)


def requested(request_id: str = "R-1", at=ASKED_AT) -> LateClaimRequested:
    return LateClaimRequested(**REQUEST, request_id=request_id, asked=ADMIN, message="Sorry.", requested_at=at)


def allowed(request_id: str = "R-1") -> ClaimWindowExtended:
    return ClaimWindowExtended(
        **REQUEST, request_id=request_id, allowed_until=date(2026, 12, 10), allowed_by=ADMIN, allowed_at=ANSWERED_AT
    )


def refused(request_id: str = "R-1") -> LateClaimRequestRefused:
    return LateClaimRequestRefused(
        **REQUEST, request_id=request_id, reason="The period is closing.", refused_by=ADMIN, refused_at=ANSWERED_AT
    )


def test_a_pending_request_shows_on_the_contacts_row_with_its_id():
    row = row_of(requested(), now=ASKED_AT)
    assert (row.late_state, row.late_request_id, row.late_requested_at) == ("pending", "R-1", ASKED_AT)


def test_a_request_and_its_answer_in_either_order_and_twice_give_the_same_row():
    for answer, state in ((allowed(), "allowed"), (refused(), "refused")):
        expected = fold([requested(), answer])
        for order in itertools.permutations([requested(), answer, requested(), answer]):
            assert fold(order) == expected
        row = row_of(answer, requested(), now=ANSWERED_AT)
        assert (row.late_state, row.late_request_id, row.late_requested_at) == (state, "R-1", ASKED_AT)
        assert row.late_answered_by == ADMIN
    assert row_of(allowed(), now=ANSWERED_AT).late_allowed_until == date(2026, 12, 10)
    assert row_of(refused(), requested(), now=ANSWERED_AT).late_refusal_reason == "The period is closing."


def test_a_new_request_after_a_refusal_is_the_one_shown():
    again = requested("R-2", at=ANSWERED_AT + timedelta(hours=1))
    row = row_of(requested(), refused(), again, now=ANSWERED_AT + timedelta(hours=2))
    assert (row.late_state, row.late_request_id) == ("pending", "R-2")
    assert take_in(None, again).late_requests["R-2"].requested_at == again.requested_at
