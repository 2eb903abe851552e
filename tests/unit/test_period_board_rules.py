"""The period board's rules (issues 10 and 11), pure: events in any order and twice, not-invited reasons, claims'
reviews, totals, CSV."""

import csv
import io
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.periods.domain.board import (
    NOT_INVITED_REASONS,
    ErpCommitment,
    RowFacts,
    board_csv,
    build_board,
    reason_given,
    skipped,
    take_in,
    take_in_skip,
)
from services.periods.domain.periods import BillingPeriod
from shared.contracts.base import Contact, Person
from shared.contracts.claims import (
    ClaimAttemptRejected,
    ClaimTotals,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.invites import (
    InviteDeliveryDeferred,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteSent,
    InviteSkipped,
)
from shared.contracts.responses import InviteAccepted, InviteDeclined
from tests.factories import invite_sent
from tests.unit.period_examples import ADMIN, SYDNEY

PERIOD_ID = "7d1f3a52-4b1e-4c57-9a57-0f4a0b0c0d01"
DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
T = datetime(2026, 11, 20, tzinfo=UTC)
BEFORE_DUE = datetime(2026, 11, 25, tzinfo=UTC)
JANE = Contact(user_id="U-9", name="Jane Citizen", email="jane@concreteco.example")
SAM = Person(id="U-2", name="Sam Standard", email="sam@acme.example")
INVITE_ID = "invite-jane"
ROW = {"invite_id": INVITE_ID, "period_id": PERIOD_ID, "project_id": "P-100", "commitment_id": "SC-0042"}

PERIOD = BillingPeriod(
    id=PERIOD_ID,
    project=SYDNEY,
    start_date=date(2026, 11, 1),
    end_date=date(2026, 11, 30),
    due_date=date(2026, 12, 5),
    opened_by=ADMIN,
    opened_at=datetime(2026, 11, 2, 3, 0, tzinfo=UTC),
)
SC_0042 = ErpCommitment(
    commitment_id="SC-0042",
    number="SC-0042",
    title="Formwork and concrete",
    vendor_name="Concrete Co Pty Ltd",
    kind="subcontract",
    status="approved",
    contacts=[JANE],
)
READERS = {"U-9": "read_only"}


def sent(at: datetime, resent: bool = False, by: Person = ADMIN) -> InviteSent:
    return invite_sent(
        INVITE_ID,
        PERIOD_ID,
        "P-100",
        "SC-0042",
        JANE.model_dump(),
        sent_at=at,
        resent=resent,
        invited_by=by.model_dump(),
    )


def deferred(at: datetime, reply: str = "451 4.7.1 Greylisted, try again later") -> InviteDeliveryDeferred:
    return InviteDeliveryDeferred(
        **ROW,
        contact=JANE,
        kind="resend",
        reply=reply,
        attempts=1,
        next_attempt_at=at + timedelta(minutes=5),
        deferred_at=at,
    )


def failed(at: datetime, kind: str = "resend") -> InviteDeliveryFailed:
    return InviteDeliveryFailed(**ROW, contact=JANE, kind=kind, reply="550 5.1.1 No such user", failed_at=at)


def reminded(at: datetime, due_at: datetime = DUE_AT) -> InviteReminderSent:
    return InviteReminderSent(**ROW, contact=JANE, due_at=due_at, sent_at=at)


def accepted(at: datetime) -> InviteAccepted:
    return InviteAccepted(**ROW, contact=JANE, answer="yes", responded_at=at, due_at=DUE_AT)


def declined(at: datetime) -> InviteDeclined:
    return InviteDeclined(**ROW, contact=JANE, answer="no", responded_at=at, due_at=DUE_AT)


def claim_created(at: datetime, claim_id: str = "claim-1") -> ProgressClaimCreated:
    return ProgressClaimCreated(
        claim_id=claim_id,
        period_id=PERIOD_ID,
        project_id="P-100",
        commitment_id="SC-0042",
        contact=JANE,
        created_by=JANE.as_person,
        on_behalf=False,
        cause="invite_accepted",
        created_at=at,
    )


def claim_submitted(at: datetime, due: str = "11875.00", revision: int = 1) -> ProgressClaimSubmitted:
    return ProgressClaimSubmitted(
        revision=revision,
        claim_id="claim-1",
        period_id=PERIOD_ID,
        project_id="P-100",
        commitment_id="SC-0042",
        contact=JANE,
        submitted_by=JANE.as_person,
        submitted_at=at,
        totals=totals(due),
    )


def totals(due: str) -> ClaimTotals:
    return ClaimTotals(
        currency="AUD",
        total_completed_and_stored=Decimal("12500.00"),
        retention=Decimal("625.00"),
        total_earned_less_retention=Decimal("11875.00"),
        less_previous_claims=Decimal("0.00"),
        current_payment_due=Decimal(due),
    )


def _reviewed(at: datetime, revision: int) -> dict:
    return {
        "claim_id": "claim-1",
        "period_id": PERIOD_ID,
        "project_id": "P-100",
        "project_name": "Harbour Tower",
        "commitment_id": "SC-0042",
        "commitment_number": "SC-0042",
        "commitment_title": "Formwork and concrete",
        "contact": JANE,
        "reviewed_by": SAM,
        "reviewed_at": at,
        "revision": revision,
    }


def claim_approved(at: datetime, revision: int = 1, due: str = "11875.00") -> ProgressClaimApproved:
    return ProgressClaimApproved(**_reviewed(at, revision), totals=totals(due))


def sent_back(at: datetime, revision: int = 1, reason: str = "Line 3 is over 100%") -> ProgressClaimRevisionRequested:
    return ProgressClaimRevisionRequested(
        **_reviewed(at, revision), reason=reason, line_notes={"line-3": "check"}, resubmit_by=date(2026, 12, 10)
    )


# One contact's round: invited, reminded, a resend deferred then refused for good, a No turned Yes, a claim.
ROUND = [
    sent(T),
    reminded(T + timedelta(minutes=30)),
    deferred(T + timedelta(hours=1)),
    failed(T + timedelta(hours=2)),
    declined(T + timedelta(hours=3)),
    accepted(T + timedelta(hours=4)),
    claim_created(T + timedelta(hours=6)),
    claim_submitted(T + timedelta(hours=7)),
]


def row_of(*events, now: datetime = BEFORE_DUE, commitment: ErpCommitment = SC_0042, readers=READERS):
    facts = None
    for event in events:
        facts = take_in(facts, event)
    board = build_board(PERIOD, "AUD", [commitment], readers, [facts] if facts else [], [], now)
    [section] = board.sections
    [row] = section.rows
    return row


def fold(events) -> RowFacts:
    facts = None
    for event in events:
        facts = take_in(facts, event)
    return facts


def test_the_rounds_events_in_every_order_give_the_same_row():
    expected = fold(ROUND)
    # Every order of the eight, each prefix folded once (a walk of the tree of orders) so that all 40,320 are
    # cheap; at the end of each order the event it began with is heard again, as a redelivery would be.
    orders = 0

    def walk(facts, first, remaining):
        nonlocal orders
        if not remaining:
            orders += 1
            assert take_in(facts, first) == expected
            return
        for index, event in enumerate(remaining):
            walk(take_in(facts, event), first or event, remaining[:index] + remaining[index + 1 :])

    walk(None, None, ROUND)
    assert orders == 40_320


def test_the_rounds_events_each_heard_twice_in_many_shuffled_orders_give_the_same_board():
    def board_of(events):
        return build_board(PERIOD, "AUD", [SC_0042], READERS, [fold(events)], [], BEFORE_DUE)

    expected = board_of(ROUND)
    shuffler = random.Random(10)
    twice = ROUND * 2
    for _ in range(2_000):
        shuffler.shuffle(twice)
        assert board_of(twice) == expected


def test_the_round_shows_the_failed_resend_the_yes_the_reminder_and_the_submitted_claim():
    row = row_of(*ROUND)
    assert (row.invite_id, row.invited_at, row.invited_by, row.not_invited_reason) == (INVITE_ID, T, ADMIN, None)
    assert (row.delivery, row.delivery_reply) == ("failed", "550 5.1.1 No such user")
    assert (row.answer, row.answered_at) == ("yes", T + timedelta(hours=4))
    assert row.reminders_sent == 1
    assert (row.claim_id, row.claim_status, row.current_payment_due) == ("claim-1", "submitted", Decimal("11875.00"))


def test_an_older_deferral_arriving_after_a_send_does_not_undo_it():
    row = row_of(sent(T + timedelta(hours=1)), deferred(T))
    assert (row.delivery, row.delivery_reply, row.next_attempt_at) == ("sent", None, None)


def test_a_deferral_shows_retrying_with_the_mail_servers_reply_and_the_next_attempt():
    row = row_of(sent(T), deferred(T + timedelta(hours=1)))
    assert row.delivery == "retrying"
    assert row.delivery_reply == "451 4.7.1 Greylisted, try again later"
    assert row.next_attempt_at == T + timedelta(hours=1, minutes=5)


def test_a_resend_that_fails_after_a_send_shows_failed_and_one_that_is_then_sent_shows_sent():
    assert row_of(sent(T), failed(T + timedelta(days=1))).delivery == "failed"
    later = sent(T + timedelta(days=2), resent=True, by=SAM)
    row = row_of(sent(T), failed(T + timedelta(days=1)), later)
    assert (row.delivery, row.delivery_reply) == ("sent", None)
    assert (row.invited_at, row.invited_by) == (T, ADMIN)
    assert (row.resent_at, row.resent_by) == (T + timedelta(days=2), SAM)


def test_a_no_heard_after_a_yes_does_not_undo_the_yes():
    assert row_of(accepted(T), declined(T + timedelta(hours=1))).answer == "yes"
    assert row_of(declined(T + timedelta(hours=1)), accepted(T)).answer == "yes"


def test_a_no_shows_when_it_was_given_and_its_reason_when_there_is_one():
    facts = take_in(take_in(None, sent(T)), declined(T + timedelta(hours=3)), "no work this period")
    [section] = build_board(PERIOD, "AUD", [SC_0042], READERS, [facts], [], BEFORE_DUE).sections
    row = section.rows[0]
    assert (row.answer, row.answered_at, row.decline_reason) == ("no", T + timedelta(hours=3), "no work this period")


def test_a_declines_reason_is_read_from_text_or_a_choice_with_text_and_anything_else_is_none():
    assert reason_given({"reason": "work complete"}) == "work complete"
    assert reason_given({"reason": {"code": "in_dispute", "text": "Variation 7"}}) == "In dispute: Variation 7"
    assert reason_given({"reason": {"code": "no_work_this_period"}}) == "No work this period"
    for data in ({}, {"reason": None}, {"reason": 7}, {"reason": "  "}, None, ["reason"]):
        assert reason_given(data) is None


def test_the_same_reminder_heard_twice_under_new_event_ids_counts_once_and_one_for_a_new_due_date_counts_again():
    assert row_of(reminded(T), reminded(T + timedelta(minutes=3))).reminders_sent == 1
    moved = reminded(T + timedelta(days=3), due_at=DUE_AT + timedelta(days=7))
    assert row_of(reminded(T), moved).reminders_sent == 2


def test_a_submitted_claim_beats_the_draft_whatever_the_order():
    for events in itertools.permutations([claim_created(T), claim_submitted(T + timedelta(hours=1))]):
        row = row_of(*events)
        assert (row.claim_status, row.current_payment_due) == ("submitted", Decimal("11875.00"))
    draft = row_of(claim_created(T))
    assert (draft.claim_id, draft.claim_status, draft.current_payment_due) == ("claim-1", "draft", None)


def test_a_resubmitted_claim_shows_its_newest_payment_due():
    row = row_of(claim_submitted(T + timedelta(days=2), "900.00"), claim_submitted(T, "11875.00"))
    assert row.current_payment_due == Decimal("900.00")


def test_a_contacts_attempt_after_the_due_date_is_kept_for_the_administrator():
    attempt = ClaimAttemptRejected(
        period_id=PERIOD_ID,
        project_id="P-100",
        commitment_id="SC-0042",
        attempted_by=JANE.as_person,
        attempt="create",
        reason="due_date_passed",
        due_at=DUE_AT,
        attempted_at=DUE_AT + timedelta(hours=2),
    )
    assert row_of(sent(T), attempt).late_attempt_at == DUE_AT + timedelta(hours=2)


# --- Not invited, and why ---


def test_an_invitable_contact_without_an_outcome_yet_is_waiting_with_no_reason():
    row = row_of()
    assert (row.invite_id, row.not_invited_reason, row.delivery) == (None, None, "waiting")


def test_a_commitment_that_is_not_invitable_says_why_for_itself_and_each_contact():
    for kind, status, reason in [
        ("subcontract", "draft", "draft"),
        ("subcontract", "void", "void"),
        ("subcontract", "out_for_signature", "not_approved"),
        ("purchase_order", "draft", "draft"),
        ("purchase_order", "closed", "not_approved"),
    ]:
        commitment = ErpCommitment(**{**SC_0042.__dict__, "kind": kind, "status": status})
        [section] = build_board(PERIOD, "AUD", [commitment], READERS, [], [], BEFORE_DUE).sections
        assert section.not_invited_reason == reason, status
        assert [(row.not_invited_reason, row.delivery) for row in section.rows] == [(reason, "not_sent")]
        assert NOT_INVITED_REASONS[reason]


def test_a_contact_the_erp_names_twice_on_a_commitment_has_one_row():
    ann = Contact(user_id="U-8", name="Ann", email="ann@concreteco.example")
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": [JANE, ann, JANE.model_copy(update={"name": "J"})]})
    [section] = build_board(PERIOD, "AUD", [commitment], READERS, [], [], BEFORE_DUE).sections
    assert [row.contact for row in section.rows] == [JANE, ann]


def test_a_commitment_without_contacts_has_its_section_saying_so_and_no_rows():
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": []})
    [section] = build_board(PERIOD, "AUD", [commitment], READERS, [], [], BEFORE_DUE).sections
    assert (section.not_invited_reason, section.rows) == ("no_contacts", [])


def test_a_commitment_invited_before_it_became_a_draft_keeps_its_invites_and_no_reason():
    commitment = ErpCommitment(**{**SC_0042.__dict__, "status": "draft"})
    [section] = build_board(PERIOD, "AUD", [commitment], READERS, [fold([sent(T)])], [], BEFORE_DUE).sections
    assert section.not_invited_reason is None
    assert section.rows[0].delivery == "sent"


def test_a_contact_without_read_only_permission_is_not_invited_for_that_reason():
    for readers in ({}, {"U-9": "none"}):
        assert row_of(readers=readers).not_invited_reason == "no_permission"
    for permission in ("read_only", "standard", "admin"):
        assert row_of(readers={"U-9": permission}).not_invited_reason is None


def test_a_contact_invited_then_taken_off_the_commitment_is_shown_as_removed_with_their_invite():
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": [Contact(user_id="U-8", name="Ann", email="a@x")]})
    facts = fold([sent(T), declined(T + timedelta(hours=1))])
    [section] = build_board(PERIOD, "AUD", [commitment], READERS, [facts], [], BEFORE_DUE).sections
    assert [(row.contact.user_id, row.not_invited_reason) for row in section.rows] == [
        ("U-8", "no_permission"),
        ("U-9", "removed"),
    ]
    assert (section.rows[1].invited_at, section.rows[1].answer) == (T, "no")
    # Only a contact still on the commitment can be sent the invite again or have a claim made for them.
    assert [row.still_a_contact for row in section.rows] == [True, False]


def test_a_period_opened_after_its_due_date_shows_each_contact_not_invited_because_it_had_passed():
    late = BillingPeriod(**{**PERIOD.__dict__, "opened_at": DUE_AT + timedelta(days=3), "events": []})
    [section] = build_board(late, "AUD", [SC_0042], READERS, [], [], DUE_AT + timedelta(days=3)).sections
    assert [(row.not_invited_reason, row.delivery) for row in section.rows] == [("due_date_passed", "not_sent")]


def test_a_contact_whose_invite_was_not_sent_before_the_due_date_passed_or_the_period_closed_is_told_so():
    after_due = row_of(now=DUE_AT)
    assert (after_due.not_invited_reason, after_due.delivery) == ("due_date_passed_before_sending", "not_sent")
    closed = BillingPeriod(**{**PERIOD.__dict__, "status": "closed", "closed_at": BEFORE_DUE, "events": []})
    [section] = build_board(closed, "AUD", [SC_0042], READERS, [], [], BEFORE_DUE).sections
    assert section.rows[0].not_invited_reason == "closed_before_sending"
    assert row_of(sent(T), now=DUE_AT).not_invited_reason is None


def test_an_invited_contact_who_has_since_lost_their_permission_is_flagged():
    row = row_of(sent(T), readers={})
    assert (row.invited, row.not_invited_reason, row.permission_missing) == (True, None, True)
    assert not row_of(sent(T)).permission_missing


def test_a_commitment_only_the_events_know_of_gets_a_section_from_what_they_said():
    skip = skipped(
        InviteSkipped(
            period_id=PERIOD_ID,
            project_id="P-100",
            commitment_id="PO-7",
            commitment_number="PO-7",
            reason="no_contacts",
        ),
        T,
    )
    board = build_board(PERIOD, "AUD", [], READERS, [fold([sent(T)])], [skip], BEFORE_DUE)
    assert [(s.commitment_id, s.number, s.title, s.not_invited_reason) for s in board.sections] == [
        ("PO-7", "PO-7", "", "no_contacts"),
        ("SC-0042", "SC-0042", "Formwork and concrete", None),
    ]
    assert [row.contact for row in board.sections[1].rows] == [JANE]


def test_sections_come_in_the_order_a_person_reads_commitment_numbers():
    numbers = ["SC-10", "po-3", "SC-2", "PO-20", "SC-2a"]
    commitments = [ErpCommitment(**{**SC_0042.__dict__, "commitment_id": n, "number": n}) for n in numbers]
    board = build_board(PERIOD, "AUD", commitments, READERS, [], [], BEFORE_DUE)
    assert [section.number for section in board.sections] == ["po-3", "PO-20", "SC-2", "SC-2a", "SC-10"]


def test_a_skip_heard_twice_or_in_either_order_is_the_same():
    first = skipped(
        InviteSkipped(
            period_id=PERIOD_ID, project_id="P", commitment_id="PO-7", commitment_number="PO-7", reason="no_contacts"
        ),
        T,
    )
    second = first.model_copy(update={"reason": "not_approved", "at": T + timedelta(hours=1)})
    assert take_in_skip(take_in_skip(None, first), second) == take_in_skip(take_in_skip(second, first), second)


# --- Totals and freshness ---


def test_totals_count_invited_yes_no_unanswered_submitted_claims_and_failures():
    contacts = [Contact(user_id=f"U-{n}", name=f"Contact {n}", email=f"c{n}@x.example") for n in range(1, 7)]
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": contacts})

    def invited(contact, *more):
        facts = None
        for event in [sent(T), *more]:
            facts = take_in(facts, event.model_copy(update={"contact": contact, "invite_id": contact.user_id}))
        return facts

    facts = [
        invited(contacts[0], accepted(T), claim_submitted(T)),
        invited(contacts[1], declined(T)),
        invited(contacts[2], failed(T + timedelta(hours=1))),
        invited(contacts[3]),
        take_in(None, failed(T).model_copy(update={"contact": contacts[4], "invite_id": "U-5"})),
    ]
    readers = {contact.user_id: "read_only" for contact in contacts}
    board = build_board(PERIOD, "AUD", [commitment], readers, facts, [], BEFORE_DUE)
    totals = board.totals
    assert (totals.invited, totals.answered_yes, totals.answered_no, totals.not_answered) == (5, 1, 1, 3)
    assert (totals.claims_submitted, totals.delivery_failures) == (1, 2)
    assert board.sections[0].rows[5].delivery == "waiting"


def test_the_board_is_as_of_its_newest_event_and_says_how_fresh_that_is():
    empty = build_board(PERIOD, "AUD", [SC_0042], READERS, [], [], BEFORE_DUE)
    assert empty.as_of is None
    assert "No invite, answer or claim" in empty.freshness(BEFORE_DUE)
    board = build_board(PERIOD, "AUD", [SC_0042], READERS, [fold(ROUND)], [], BEFORE_DUE)
    assert board.as_of == T + timedelta(hours=7)
    assert board.freshness(T + timedelta(hours=7, minutes=3)) == (
        "Shows what happened up to 2026-11-20 18:00 Australia/Sydney time (3 minutes ago)."
    )


# --- CSV ---


def test_the_csv_has_a_header_and_one_line_per_contact_in_the_project_time_zone():
    board = build_board(PERIOD, "AUD", [SC_0042], READERS, [fold(ROUND)], [], BEFORE_DUE)
    [header, line] = list(csv.reader(io.StringIO(board_csv(board))))
    cells = dict(zip(header, line, strict=True))
    assert cells["Commitment"] == "SC-0042"
    assert cells["Contact"] == "Jane Citizen"
    assert cells["Invited at"] == "2026-11-20 11:00"
    assert cells["Invited by"] == "Alex Admin"
    assert cells["Delivery"] == "failed"
    assert cells["Mail server reply"] == "550 5.1.1 No such user"
    assert cells["Answer"] == "Yes"
    assert cells["Reminders sent"] == "1"
    assert (cells["Claim"], cells["Current payment due"], cells["Currency"]) == ("submitted", "11875.00", "AUD")


def test_the_csv_keeps_a_name_with_a_comma_quote_and_newline_in_one_cell():
    odd = Contact(user_id="U-9", name='Citizen, Jane "JJ"\nSite office', email="jane@concreteco.example")
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": [odd]})
    board = build_board(PERIOD, "AUD", [commitment], READERS, [], [], BEFORE_DUE)
    [_, line] = list(csv.reader(io.StringIO(board_csv(board))))
    assert line[3] == 'Citizen, Jane "JJ"\nSite office'


def test_the_csv_guards_each_text_cell_a_spreadsheet_would_run_as_a_formula():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        name = f'{start}HYPERLINK("http://evil.example")'
        commitment = ErpCommitment(
            **{**SC_0042.__dict__, "title": name, "contacts": [JANE.model_copy(update={"name": name})]}
        )
        board = build_board(PERIOD, "AUD", [commitment], READERS, [], [], BEFORE_DUE)
        [_, line] = list(csv.reader(io.StringIO(board_csv(board))))
        assert line[1] == line[3] == "'" + name, repr(start)
    refund = build_board(PERIOD, "AUD", [SC_0042], READERS, [fold([claim_submitted(T, "-250.00")])], [], BEFORE_DUE)
    [_, line] = list(csv.reader(io.StringIO(board_csv(refund))))
    assert line[-2:] == ["-250.00", "AUD"]


# --- A claim's review (issue 11, rule 18) ---

# Created, submitted, sent back, resubmitted as revision 2 with a new payment due, approved.
REVIEW_ROUND = [
    claim_created(T),
    claim_submitted(T + timedelta(hours=1)),
    sent_back(T + timedelta(hours=2)),
    claim_submitted(T + timedelta(hours=3), due="10000.00", revision=2),
    claim_approved(T + timedelta(hours=4), revision=2, due="10000.00"),
]


def test_a_reviewed_claims_events_in_every_order_and_each_twice_give_the_same_row():
    expected = fold(REVIEW_ROUND)
    for order in itertools.permutations(REVIEW_ROUND):
        assert fold(order) == expected
        assert fold([*order, *order]) == expected
        assert fold([*order, order[0]]) == expected
    row = row_of(*REVIEW_ROUND)
    assert (row.claim_status, row.claim_status_name, row.claim_revision) == ("approved", "Approved", 2)
    assert (row.current_payment_due, row.reviewed_by, row.reviewed_at) == (
        Decimal("10000.00"),
        SAM,
        T + timedelta(hours=4),
    )
    assert row.revision_reason is None and row.resubmit_by is None


def test_a_claim_sent_back_shows_the_reason_and_resubmit_by_whichever_of_submission_and_review_came_first():
    for events in itertools.permutations(
        [claim_created(T), claim_submitted(T + timedelta(hours=1)), sent_back(T + timedelta(hours=2))]
    ):
        row = row_of(*events)
        assert (row.claim_status, row.claim_status_name) == ("sent_back", "Sent back to revise")
        assert (row.revision_reason, row.resubmit_by) == ("Line 3 is over 100%", date(2026, 12, 10))
        assert (row.reviewed_by, row.claim_revision, row.current_payment_due) == (SAM, 1, Decimal("11875.00"))


def test_a_resubmission_after_a_request_to_revise_shows_its_revision_and_newest_payment_due_in_either_order():
    revised = claim_submitted(T + timedelta(hours=3), due="10000.00", revision=2)
    for events in itertools.permutations([claim_submitted(T), sent_back(T + timedelta(hours=1)), revised]):
        row = row_of(*events)
        assert (row.claim_status, row.claim_status_name, row.claim_revision) == ("submitted", "Resubmitted", 2)
        assert row.current_payment_due == Decimal("10000.00")
        assert row.reviewed_at is None and row.revision_reason is None


def test_a_review_beats_the_submission_of_its_own_revision_even_one_heard_with_an_earlier_time():
    # The submission's time is the claims service's; a review stamped a second earlier (clocks differ) still wins.
    row = row_of(sent_back(T), claim_submitted(T + timedelta(seconds=1)))
    assert row.claim_status == "sent_back"


def test_an_approval_of_a_later_revision_beats_an_earlier_request_to_revise_heard_after_it():
    for events in itertools.permutations([claim_approved(T + timedelta(hours=2), revision=2), sent_back(T)]):
        row = row_of(*events)
        assert (row.claim_status, row.claim_revision, row.current_payment_due) == ("approved", 2, Decimal("11875.00"))
        assert row.revision_reason is None


def test_totals_count_approved_and_sent_back_claims_and_approved_ones_as_submitted():
    people = [Contact(user_id=f"U-{n}", name=f"Person {n}", email=f"p{n}@concreteco.example") for n in range(3)]
    commitment = ErpCommitment(**{**SC_0042.__dict__, "contacts": people})

    def facts_of(person: Contact, events) -> RowFacts:
        return fold([event.model_copy(update={"contact": person}) for event in events])

    facts = [
        facts_of(people[0], [claim_submitted(T), claim_approved(T + timedelta(hours=1))]),
        facts_of(people[1], [claim_submitted(T), sent_back(T + timedelta(hours=1))]),
        facts_of(people[2], [claim_submitted(T)]),
    ]
    readers = {person.user_id: "read_only" for person in people}
    totals_ = build_board(PERIOD, "AUD", [commitment], readers, facts, [], BEFORE_DUE).totals
    assert (totals_.claims_submitted, totals_.claims_approved, totals_.claims_sent_back) == (2, 1, 1)


def test_the_csv_says_who_sent_a_claim_back_when_why_and_by_when_to_resubmit():
    board = build_board(
        PERIOD,
        "AUD",
        [SC_0042],
        READERS,
        [fold([claim_submitted(T), sent_back(T + timedelta(hours=1))])],
        [],
        BEFORE_DUE,
    )
    [header, line] = list(csv.reader(io.StringIO(board_csv(board))))
    cells = dict(zip(header, line, strict=True))
    assert (cells["Claim"], cells["Claim revision"]) == ("sent back to revise", "1")
    assert (cells["Reviewed at"], cells["Reviewed by"]) == ("2026-11-20 12:00", "Sam Standard")
    assert (cells["Reason sent back"], cells["Resubmit by"]) == ("Line 3 is over 100%", "2026-12-10")
