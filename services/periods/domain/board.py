"""The period board (issue 10): per commitment of the project, per contact, what happened and why, free of I/O.

The board is a read model: the periods service hears the other services' events (`billing.invites`,
`billing.responses`, `billing.claims`) and keeps, per row (period, commitment, contact), the facts those events
told (`RowFacts`). Events arrive in any order and sometimes twice, so every fact is merged by a rule that neither
order nor repetition can change: the earliest invite, the newest delivery outcome by its own time, a Yes over a
No (rule 11), a submitted claim over a draft, the newest revision of a claim and, within one revision, its review
over its submission (rule 18), reminders as a set. The board itself (`build_board`) is drawn
from those facts, the commitments and permissions of the ERP read model, the period, and the clock.
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from services.periods.domain.periods import BillingPeriod
from shared import payment_schedules
from shared.contracts.base import Contact, Contract, Person
from shared.contracts.claims import (
    ClaimAttemptRejected,
    ClaimWindowExtended,
    LateClaimRequested,
    LateClaimRequestRefused,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.erp import INVITABLE_STATUSES, PERMISSION_RANK
from shared.contracts.invites import (
    InvitedCommitment,
    InviteDeliveryDeferred,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteSent,
    InviteSkipped,
)
from shared.contracts.responses import InviteAccepted, InviteDeclined

# Why a contact (or a whole commitment) has no invite this period, in the administrator's words.
NOT_INVITED_REASONS = {
    "draft": "the commitment is a draft",
    "void": "the commitment is void",
    "not_approved": "the commitment is not approved",
    "no_contacts": "the commitment has no progress claim contacts",
    "no_permission": "the contact has no Read Only (or higher) permission on the project's Commitments tool",
    "removed": "the contact was removed from the commitment",
    "due_date_passed": "the due date had passed when the period opened",
    # Added (issue 10): an invite the notifier had not sent yet when the due date was moved to a day already
    # passed, or when the period closed, is never sent (rule 7).
    "due_date_passed_before_sending": "the due date passed before the invite was sent",
    "closed_before_sending": "the period was closed before the invite was sent",
}

DeliveryState = Literal["waiting", "sent", "retrying", "failed", "not_sent"]
ClaimState = Literal["draft", "submitted", "approved", "sent_back"]
# What the board calls each, a resubmission (a revision after the first) told apart from a first submission.
CLAIM_STATUS_NAMES = {
    "draft": "Draft",
    "submitted": "Submitted",
    "resubmitted": "Resubmitted",
    "approved": "Approved",
    "sent_back": "Sent back to revise",
}

# The events the board takes in, per contact row; InviteSkipped is the commitment's, kept apart.
ROW_EVENTS = (
    InviteSent,
    InviteDeliveryDeferred,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteAccepted,
    InviteDeclined,
    ProgressClaimCreated,
    ProgressClaimSubmitted,
    ProgressClaimApproved,
    ProgressClaimRevisionRequested,
    ClaimAttemptRejected,
    LateClaimRequested,
    ClaimWindowExtended,
    LateClaimRequestRefused,
)
LateState = Literal["pending", "allowed", "refused"]


@dataclass(frozen=True)
class ContactRow:
    """One contact of one commitment this period."""

    commitment_id: str
    contact: Contact
    invite_id: str | None
    invited_at: datetime | None
    invited_by: Person | None
    not_invited_reason: str | None  # a key of NOT_INVITED_REASONS, when there is no invite
    delivery: DeliveryState
    delivery_reply: str | None  # the mail server's last reply, while retrying or once failed
    answer: Literal["yes", "no"] | None
    answered_at: datetime | None
    reminders_sent: int
    claim_id: str | None
    claim_status: ClaimState | None
    current_payment_due: Decimal | None  # once submitted
    # Added beside the shapes above (issue 10): the newest resend and who asked for it; when a retry is due;
    # a No's reason, when the contact gave one (rule 18a); the claim's times; a contact's attempt to claim after
    # the due date (rule 15), so the administrator knows to create it on their behalf.
    resent_at: datetime | None = None
    resent_by: Person | None = None
    next_attempt_at: datetime | None = None
    decline_reason: str | None = None
    claim_created_at: datetime | None = None
    claim_submitted_at: datetime | None = None
    late_attempt_at: datetime | None = None
    # The contact lacks Read Only on the project's Commitments tool now (even if invited): their answer and claim
    # would be refused (rules 10 and 19) until the ERP grants it.
    permission_missing: bool = False
    # Added (issue 11): the claim's newest revision and its review (rule 18): who approved it or sent it back
    # and when, and for a revision the reason and the day to resubmit by.
    claim_revision: int | None = None
    reviewed_at: datetime | None = None
    reviewed_by: Person | None = None
    revision_reason: str | None = None
    resubmit_by: date | None = None
    # Rule 18c (issue 12): while the claim is under review on a project with a Security of Payment Act, the day
    # the builder's payment schedule is due and the business days left to it.
    payment_schedule_due: date | None = None
    payment_schedule_days_left: int | None = None
    # Added (issue 12): the contact's newest request to claim late (rule 18b), and its answer once given.
    late_request_id: str | None = None
    late_requested_at: datetime | None = None
    late_state: LateState | None = None
    late_allowed_until: date | None = None
    late_refusal_reason: str | None = None
    late_answered_by: Person | None = None

    @property
    def claim_status_name(self) -> str:
        """The claim's status in the board's words; a submission after a request to revise is a resubmission."""
        if self.claim_status == "submitted" and (self.claim_revision or 1) > 1:
            return CLAIM_STATUS_NAMES["resubmitted"]
        return CLAIM_STATUS_NAMES.get(self.claim_status or "", "")

    @property
    def invited(self) -> bool:
        return self.invite_id is not None

    @property
    def still_a_contact(self) -> bool:
        """Still a progress claim contact of the commitment: only they can be sent the invite again or have a claim
        made for them (rules 6 and 15)."""
        return self.not_invited_reason != "removed"


@dataclass(frozen=True)
class CommitmentSection:
    commitment_id: str
    number: str
    title: str
    vendor_name: str
    kind: str
    status: str
    not_invited_reason: str | None  # for the whole commitment (draft, void, no contacts)
    rows: list[ContactRow]


@dataclass(frozen=True)
class BoardTotals:
    invited: int
    answered_yes: int
    answered_no: int
    not_answered: int
    claims_submitted: int  # submitted or resubmitted and not reviewed yet, or approved
    delivery_failures: int
    claims_approved: int = 0
    claims_sent_back: int = 0


@dataclass(frozen=True)
class Board:
    period: BillingPeriod
    currency: str
    sections: list[CommitmentSection]
    totals: BoardTotals
    as_of: datetime | None  # when the last event shown here happened; None before any

    @property
    def rows(self) -> list[ContactRow]:
        return [row for section in self.sections for row in section.rows]

    def freshness(self, now: datetime) -> str:
        """How fresh the board is, for the page: the time of the newest event it has taken in."""
        if self.as_of is None:
            return "No invite, answer or claim has been heard of for this period yet."
        minutes = int((now - self.as_of).total_seconds() // 60)
        local = self.as_of.astimezone(ZoneInfo(self.period.project.timezone)).strftime("%Y-%m-%d %H:%M")
        ago = "less than a minute ago" if minutes < 1 else f"{minutes:,} minute{'s' if minutes != 1 else ''} ago"
        return f"Shows what happened up to {local} {self.period.project.timezone} time ({ago})."


# --- What the events told, per row; each fact merges the same whatever the order (a join) ---


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True)


class Sending(_Fact):
    """An invite emailed (first or again), and who asked for it (the email's Invited By)."""

    at: datetime
    by: Person

    def key(self) -> tuple:
        return (self.at, self.by.id, self.by.name, self.by.email)


class DeliveryOutcome(_Fact):
    """What became of the newest email about the invite (invite, resend or reminder)."""

    state: Literal["sent", "retrying", "failed"]
    at: datetime
    reply: str | None = None
    next_attempt_at: datetime | None = None

    def key(self) -> tuple:
        # The newest by its own time; at the same instant, a final outcome over a retry.
        rank = {"retrying": 0, "sent": 1, "failed": 2}[self.state]
        return (self.at, rank, self.reply or "", self.next_attempt_at or self.at)


class Decline(_Fact):
    at: datetime
    reason: str | None = None

    def key(self) -> tuple:
        return (self.at, self.reason or "")


class ClaimCreated(_Fact):
    claim_id: str
    at: datetime

    def key(self) -> tuple:
        return (self.at, self.claim_id)


class ClaimSubmitted(_Fact):
    claim_id: str
    at: datetime
    current_payment_due: Decimal
    currency: str
    revision: int = 1  # facts kept before issue 11 were all of a first submission
    payment_schedule_due: date | None = None  # rule 18c; facts kept before issue 12 have none

    def key(self) -> tuple:
        # The newest revision; within one, the newest by its own time.
        return (self.revision, self.at, self.claim_id, self.current_payment_due, self.currency)


class ClaimReview(_Fact):
    """The newest review of the claim (rule 18): approved, or sent back to revise with a reason and a day."""

    claim_id: str
    revision: int
    outcome: Literal["approved", "sent_back"]
    at: datetime
    by: Person
    reason: str | None = None
    resubmit_by: date | None = None
    current_payment_due: Decimal | None = None  # an approval's

    def key(self) -> tuple:
        # The newest revision's; within one, the newest by its own time; at the same instant, an approval.
        rank = {"sent_back": 0, "approved": 1}[self.outcome]
        return (
            self.revision,
            self.at,
            rank,
            self.claim_id,
            self.by.id,
            self.reason or "",
            self.resubmit_by or date.min,
        )


class LateRequest(_Fact):
    """A request to claim late (rule 18b), as its events told it: the request, its answer, or both, whatever
    order they came in."""

    request_id: str
    requested_at: datetime | None = None
    answer: Literal["allowed", "refused"] | None = None
    answered_at: datetime | None = None
    answered_by: Person | None = None
    allowed_until: date | None = None
    reason: str | None = None

    def merged(self, other: "LateRequest") -> "LateRequest":
        """The same request as both told it: its time from the request, its answer from the answer (a request is
        answered once; were it twice, the newer answer)."""
        answered = _newest_answer(self, other)
        return LateRequest(
            request_id=self.request_id,
            requested_at=_earliest(self.requested_at, other.requested_at),
            answer=answered.answer,
            answered_at=answered.answered_at,
            answered_by=answered.answered_by,
            allowed_until=answered.allowed_until,
            reason=answered.reason,
        )

    def key(self) -> tuple:
        """The newest request of a row: by when it was asked (or, before the request is heard, answered)."""
        return (self.requested_at or self.answered_at, self.request_id)


def _newest_answer(a: LateRequest, b: LateRequest) -> LateRequest:
    if a.answer is None or b.answer is None:
        return a if b.answer is None else b
    return a if (a.answered_at, a.answer, a.reason or "") >= (b.answered_at, b.answer, b.reason or "") else b


def _late_request(event: LateClaimRequested | ClaimWindowExtended | LateClaimRequestRefused) -> LateRequest:
    match event:
        case LateClaimRequested():
            return LateRequest(request_id=event.request_id, requested_at=event.requested_at)
        case ClaimWindowExtended():
            return LateRequest(
                request_id=event.request_id,
                answer="allowed",
                answered_at=event.allowed_at,
                answered_by=event.allowed_by,
                allowed_until=event.allowed_until,
            )
    return LateRequest(
        request_id=event.request_id,
        answer="refused",
        answered_at=event.refused_at,
        answered_by=event.refused_by,
        reason=event.reason,
    )


class SeenContact(_Fact):
    contact: Contact
    at: datetime

    def key(self) -> tuple:
        return (self.at, self.contact.user_id, self.contact.name, self.contact.email)


class SeenCommitment(_Fact):
    commitment: InvitedCommitment
    at: datetime

    def key(self) -> tuple:
        c = self.commitment
        return (self.at, c.commitment_id, c.number, c.title, c.vendor_name)


class RowFacts(_Fact):
    """What the board has heard about one (period, commitment, contact)."""

    period_id: str
    commitment_id: str
    contact_user_id: str
    contact: SeenContact | None = None
    commitment: SeenCommitment | None = None  # as the newest InviteSent named it, for a commitment the ERP lacks
    invite_id: str | None = None
    first_sent: Sending | None = None
    last_resent: Sending | None = None
    delivery: DeliveryOutcome | None = None
    accepted_at: datetime | None = None
    declined: Decline | None = None
    # A reminder is one per invite and due date: the same reminder heard twice (a new event id after a crash,
    # say) counts once.
    reminders: frozenset[datetime] = frozenset()
    claim_created: ClaimCreated | None = None
    claim_submitted: ClaimSubmitted | None = None
    claim_review: ClaimReview | None = None
    late_attempt_at: datetime | None = None
    late_requests: dict[str, LateRequest] = {}  # by request id (rule 18b)
    as_of: datetime | None = None  # the newest event's own time

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.period_id, self.commitment_id, self.contact_user_id)


def _earliest(a, b):
    if a is None or b is None:
        return a if b is None else b
    return a if _order(a) <= _order(b) else b


def _newest(a, b):
    if a is None or b is None:
        return a if b is None else b
    return a if _order(a) >= _order(b) else b


def _order(value) -> tuple:
    return value.key() if isinstance(value, _Fact) else (value,)


def row_key(event: Contract) -> tuple[str, str, str]:
    """The row an event belongs to: (period, commitment, contact)."""
    if isinstance(event, InviteSent):
        return (event.period_id, event.commitment.commitment_id, event.contact.user_id)
    if isinstance(event, ClaimAttemptRejected):
        return (event.period_id, event.commitment_id, event.attempted_by.id)
    return (event.period_id, event.commitment_id, event.contact.user_id)


def event_time(event: Contract) -> datetime:
    """An event's own time: when the thing it tells happened."""
    match event:
        case InviteSent() | InviteReminderSent():
            return event.sent_at
        case InviteDeliveryDeferred():
            return event.deferred_at
        case InviteDeliveryFailed():
            return event.failed_at
        case InviteAccepted() | InviteDeclined():
            return event.responded_at
        case ProgressClaimCreated():
            return event.created_at
        case ProgressClaimSubmitted():
            return event.submitted_at
        case ProgressClaimApproved() | ProgressClaimRevisionRequested():
            return event.reviewed_at
        case ClaimAttemptRejected():
            return event.attempted_at
        case LateClaimRequested():
            return event.requested_at
        case ClaimWindowExtended():
            return event.allowed_at
        case LateClaimRequestRefused():
            return event.refused_at
    raise TypeError(f"the board does not take in {type(event).__name__}")


def take_in(facts: RowFacts | None, event: Contract, decline_reason: str | None = None) -> RowFacts:
    """The row's facts with the event's added: the same result whatever order events come in, and once or
    twice. `decline_reason` is an InviteDeclined's optional reason (rule 18a), read from its data by
    `reason_given`, as older contracts do not carry it."""
    period_id, commitment_id, user_id = row_key(event)
    facts = facts or RowFacts(period_id=period_id, commitment_id=commitment_id, contact_user_id=user_id)
    at = event_time(event)
    change: dict[str, Any] = {"as_of": _newest(facts.as_of, at)}
    if isinstance(event, ClaimAttemptRejected):
        person = event.attempted_by
        contact = Contact(user_id=person.id, name=person.name, email=person.email)
    else:
        contact = event.contact
    change["contact"] = _newest(facts.contact, SeenContact(contact=contact, at=at))
    invite_id = getattr(event, "invite_id", None)
    if invite_id is not None:
        change["invite_id"] = _earliest(facts.invite_id, invite_id)

    match event:
        case InviteSent():
            sending = Sending(at=event.sent_at, by=event.invited_by)
            change["first_sent"] = _earliest(facts.first_sent, sending)
            if event.resent:
                change["last_resent"] = _newest(facts.last_resent, sending)
            change["commitment"] = _newest(facts.commitment, SeenCommitment(commitment=event.commitment, at=at))
            change["delivery"] = _newest(facts.delivery, DeliveryOutcome(state="sent", at=at))
        case InviteReminderSent():
            change["reminders"] = facts.reminders | {event.due_at}
            change["delivery"] = _newest(facts.delivery, DeliveryOutcome(state="sent", at=at))
        case InviteDeliveryDeferred():
            retrying = DeliveryOutcome(
                state="retrying", at=at, reply=event.reply, next_attempt_at=event.next_attempt_at
            )
            change["delivery"] = _newest(facts.delivery, retrying)
        case InviteDeliveryFailed():
            change["delivery"] = _newest(facts.delivery, DeliveryOutcome(state="failed", at=at, reply=event.reply))
        case InviteAccepted():
            change["accepted_at"] = _earliest(facts.accepted_at, at)
        case InviteDeclined():
            change["declined"] = _newest(facts.declined, Decline(at=at, reason=decline_reason))
        case ProgressClaimCreated():
            change["claim_created"] = _earliest(facts.claim_created, ClaimCreated(claim_id=event.claim_id, at=at))
        case ProgressClaimSubmitted():
            submitted = ClaimSubmitted(
                claim_id=event.claim_id,
                at=at,
                current_payment_due=event.totals.current_payment_due,
                currency=event.totals.currency,
                revision=event.revision,
                payment_schedule_due=event.payment_schedule_due,
            )
            change["claim_submitted"] = _newest(facts.claim_submitted, submitted)
        case ProgressClaimApproved():
            approved = ClaimReview(
                claim_id=event.claim_id,
                revision=event.revision,
                outcome="approved",
                at=at,
                by=event.reviewed_by,
                current_payment_due=event.totals.current_payment_due,
            )
            change["claim_review"] = _newest(facts.claim_review, approved)
        case ProgressClaimRevisionRequested():
            sent_back = ClaimReview(
                claim_id=event.claim_id,
                revision=event.revision,
                outcome="sent_back",
                at=at,
                by=event.reviewed_by,
                reason=event.reason,
                resubmit_by=event.resubmit_by,
            )
            change["claim_review"] = _newest(facts.claim_review, sent_back)
        case ClaimAttemptRejected():
            change["late_attempt_at"] = _newest(facts.late_attempt_at, at)
        case LateClaimRequested() | ClaimWindowExtended() | LateClaimRequestRefused():
            heard = _late_request(event)
            known = facts.late_requests.get(heard.request_id)
            change["late_requests"] = facts.late_requests | {
                heard.request_id: heard if known is None else known.merged(heard)
            }
    return facts.model_copy(update=change)


def reason_given(data: Any) -> str | None:
    """A No's optional reason (rule 18a) as the responses service may add it to InviteDeclined: text, or a
    choice with text ({"code": "other", "text": "…"}); anything else is no reason."""
    reason = data.get("reason") if isinstance(data, Mapping) else None
    if isinstance(reason, str):
        return reason.strip() or None
    if isinstance(reason, Mapping):
        parts = [str(reason[name]).strip() for name in ("code", "text") if isinstance(reason.get(name), str)]
        said = ": ".join(part.replace("_", " ") if i == 0 else part for i, part in enumerate(parts) if part)
        return said[:1].upper() + said[1:] or None  # "No work this period", "Other: their words"
    return None


class SkippedCommitment(_Fact):
    """InviteSkipped: the notifier found the commitment not invitable (rule 5)."""

    period_id: str
    commitment_id: str
    commitment_number: str
    reason: str
    at: datetime

    def key(self) -> tuple:
        return (self.at, self.reason, self.commitment_number)


def skipped(event: InviteSkipped, heard_at: datetime) -> SkippedCommitment:
    return SkippedCommitment(
        period_id=event.period_id,
        commitment_id=event.commitment_id,
        commitment_number=event.commitment_number,
        reason=event.reason,
        at=heard_at,
    )


def take_in_skip(known: SkippedCommitment | None, skip: SkippedCommitment) -> SkippedCommitment:
    return _newest(known, skip)


# --- The board, drawn from the facts, the ERP read model, the period and the clock ---


@dataclass(frozen=True)
class ErpCommitment:
    """A commitment of the project as the periods service's ERP read model last heard of it."""

    commitment_id: str
    number: str
    title: str
    vendor_name: str
    kind: str
    status: str
    contacts: list[Contact] = field(default_factory=list)


def commitment_reason(commitment: ErpCommitment) -> str | None:
    """Why the commitment is not invited (rule 5), or None when it is invitable."""
    if commitment.status not in INVITABLE_STATUSES.get(commitment.kind, set()):
        return commitment.status if commitment.status in ("draft", "void") else "not_approved"
    if not commitment.contacts:
        return "no_contacts"
    return None


def may_read_commitments(permission: str | None) -> bool:
    """Read Only or higher on the project's Commitments tool (rule 19)."""
    return PERMISSION_RANK.get(permission or "none", 0) >= PERMISSION_RANK["read_only"]


def build_board(
    period: BillingPeriod,
    currency: str,
    commitments: Iterable[ErpCommitment],
    permissions: Mapping[str, str],
    facts: Iterable[RowFacts],
    skips: Iterable[SkippedCommitment],
    now: datetime,
    region: str | None = None,
) -> Board:
    """One section per commitment of the project (and per commitment only the events know of), one row per
    contact; `permissions` maps a user id to their permission on the project's Commitments tool; `region` the
    project's, for the business days left to each payment schedule (rule 18c)."""
    facts_of: dict[str, dict[str, RowFacts]] = {}
    for row_facts in facts:
        facts_of.setdefault(row_facts.commitment_id, {})[row_facts.contact_user_id] = row_facts
    skip_of = {skip.commitment_id: skip for skip in skips}
    known = {commitment.commitment_id: commitment for commitment in commitments}

    sections = [
        _section(
            period,
            commitment_id,
            known.get(commitment_id),
            facts_of.get(commitment_id, {}),
            skip_of.get(commitment_id),
            permissions,
            now,
        )
        for commitment_id in known.keys() | facts_of.keys() | skip_of.keys()
    ]
    sections.sort(key=lambda section: (_in_number_order(section.number), section.commitment_id))
    today = now.astimezone(ZoneInfo(period.project.timezone)).date()
    sections = [_with_payment_schedule_clock(section, region, today) for section in sections]
    rows = [row for section in sections for row in section.rows]
    all_facts = [row_facts for by_contact in facts_of.values() for row_facts in by_contact.values()]
    times = [row_facts.as_of for row_facts in all_facts if row_facts.as_of] + [skip.at for skip in skip_of.values()]
    return Board(
        period=period,
        currency=currency,
        sections=sections,
        totals=totals_of(rows),
        as_of=max(times) if times else None,
    )


def _with_payment_schedule_clock(section: CommitmentSection, region: str | None, today: date) -> CommitmentSection:
    """Rule 18c: each claim under review with a payment schedule due, with the business days left to it."""
    rows = [
        replace(
            row,
            payment_schedule_days_left=payment_schedules.business_days_left(region, today, row.payment_schedule_due),
        )
        if row.payment_schedule_due is not None
        else row
        for row in section.rows
    ]
    return replace(section, rows=rows)


def _in_number_order(number: str) -> list:
    """SC-2 before SC-10, as a person reads commitment numbers."""
    return [int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", number)]


def _section(
    period: BillingPeriod,
    commitment_id: str,
    commitment: ErpCommitment | None,
    facts: dict[str, RowFacts],
    skip: SkippedCommitment | None,
    permissions: Mapping[str, str],
    now: datetime,
) -> CommitmentSection:
    invited = any(row_facts.invite_id for row_facts in facts.values())
    if commitment is not None:
        reason = None if invited else commitment_reason(commitment)
        # One row per contact, even if the ERP names someone twice (an invite is per contact, rule 6).
        first_of: dict[str, Contact] = {}
        for contact in commitment.contacts:
            first_of.setdefault(contact.user_id, contact)
        contacts = list(first_of.values())
        listed = {contact.user_id for contact in contacts}
        number, title, vendor, kind, status = (
            commitment.number,
            commitment.title,
            commitment.vendor_name,
            commitment.kind,
            commitment.status,
        )
    else:
        # Not in the ERP read model yet: what the events said of it.
        reason = None if invited or skip is None else skip.reason
        contacts, listed = [], None
        seen = _newest_of(row_facts.commitment for row_facts in facts.values())
        number = seen.commitment.number if seen else (skip.commitment_number if skip else commitment_id)
        title, vendor = (seen.commitment.title, seen.commitment.vendor_name) if seen else ("", "")
        kind = status = ""
    # Former contacts stay while the board has something to say about them: an invite or a claim.
    former = sorted(
        (
            _contact_of(row_facts)
            for user_id, row_facts in facts.items()
            if (listed is None or user_id not in listed)
            and (row_facts.invite_id or row_facts.claim_created or row_facts.claim_submitted or row_facts.claim_review)
        ),
        key=lambda contact: (contact.name.casefold(), contact.user_id),
    )
    rows = [
        _row(period, commitment_id, contact, facts.get(contact.user_id), reason, False, permissions, now)
        for contact in contacts
    ] + [
        _row(period, commitment_id, contact, facts[contact.user_id], reason, listed is not None, permissions, now)
        for contact in former
    ]
    return CommitmentSection(
        commitment_id=commitment_id,
        number=number,
        title=title,
        vendor_name=vendor,
        kind=kind,
        status=status,
        not_invited_reason=reason,
        rows=rows,
    )


def _contact_of(facts: RowFacts) -> Contact:
    return facts.contact.contact if facts.contact else Contact(user_id=facts.contact_user_id, name="", email="")


def _newest_of(values: Iterable) -> Any:
    newest = None
    for value in values:
        newest = _newest(newest, value)
    return newest


def not_invited_reason(
    period: BillingPeriod, commitment_not_invited: str | None, permission: str | None, now: datetime
) -> str | None:
    """Why a contact of the commitment has no invite (rules 5, 7, 19), or None while one may still come."""
    if commitment_not_invited:
        return commitment_not_invited
    if not may_read_commitments(permission):
        return "no_permission"
    # Rule 7: nothing is sent once the due date has passed or the period has closed.
    if period.opened_at >= period.due_at:
        return "due_date_passed"
    if period.due_date_has_passed(now):
        return "due_date_passed_before_sending"
    if period.status != "open":
        return "closed_before_sending"
    return None


def _row(
    period: BillingPeriod,
    commitment_id: str,
    contact: Contact,
    facts: RowFacts | None,
    commitment_not_invited: str | None,
    removed: bool,
    permissions: Mapping[str, str],
    now: datetime,
) -> ContactRow:
    facts = facts or RowFacts(period_id=period.id, commitment_id=commitment_id, contact_user_id=contact.user_id)
    permission = permissions.get(contact.user_id)
    if removed:
        reason = "removed"
    elif facts.invite_id is not None:
        reason = None
    else:
        reason = not_invited_reason(period, commitment_not_invited, permission, now)

    delivery: DeliveryState
    if facts.delivery is not None:
        delivery = facts.delivery.state
    elif reason is not None:
        delivery = "not_sent"
    else:
        delivery = "waiting"
    retrying_or_failed = facts.delivery is not None and facts.delivery.state in ("retrying", "failed")

    if facts.accepted_at is not None:  # a Yes stands (rule 11)
        answer, answered_at = "yes", facts.accepted_at
    elif facts.declined is not None:
        answer, answered_at = "no", facts.declined.at
    else:
        answer, answered_at = None, None

    submitted, created = facts.claim_submitted, facts.claim_created
    # The review stands for its revision and those before; a newer submission (the revision asked for) does not.
    review = facts.claim_review
    if review is not None and submitted is not None and submitted.revision > review.revision:
        review = None
    claim_status: ClaimState | None
    if review is not None:
        claim_status = review.outcome
    elif submitted is not None:
        claim_status = "submitted"
    elif created is not None:
        claim_status = "draft"
    else:
        claim_status = None
    claim_of = review or submitted or facts.claim_review or created
    claim_id = claim_of.claim_id if claim_of else None
    if review is not None and review.outcome == "approved":
        payment_due = review.current_payment_due
    else:
        payment_due = submitted.current_payment_due if submitted else None
    revisions = [fact.revision for fact in (submitted, facts.claim_review) if fact is not None]
    late = _newest_of(facts.late_requests.values())
    return ContactRow(
        commitment_id=commitment_id,
        contact=contact,
        invite_id=facts.invite_id,
        invited_at=facts.first_sent.at if facts.first_sent else None,
        invited_by=facts.first_sent.by if facts.first_sent else None,
        not_invited_reason=reason,
        delivery=delivery,
        delivery_reply=facts.delivery.reply if retrying_or_failed else None,
        answer=answer,
        answered_at=answered_at,
        reminders_sent=len(facts.reminders),
        claim_id=claim_id,
        claim_status=claim_status,
        current_payment_due=payment_due,
        resent_at=facts.last_resent.at if facts.last_resent else None,
        resent_by=facts.last_resent.by if facts.last_resent else None,
        next_attempt_at=facts.delivery.next_attempt_at if delivery == "retrying" else None,
        decline_reason=facts.declined.reason if answer == "no" else None,
        claim_created_at=created.at if created else None,
        claim_submitted_at=submitted.at if submitted else None,
        late_attempt_at=facts.late_attempt_at,
        permission_missing=not may_read_commitments(permission),
        claim_revision=max(revisions) if revisions else None,
        reviewed_at=review.at if review else None,
        reviewed_by=review.by if review else None,
        revision_reason=review.reason if review else None,
        resubmit_by=review.resubmit_by if review else None,
        payment_schedule_due=submitted.payment_schedule_due if submitted and claim_status == "submitted" else None,
        late_request_id=late.request_id if late else None,
        late_requested_at=late.requested_at if late else None,
        late_state=(late.answer or "pending") if late else None,
        late_allowed_until=late.allowed_until if late else None,
        late_refusal_reason=late.reason if late else None,
        late_answered_by=late.answered_by if late else None,
    )


def totals_of(rows: Iterable[ContactRow]) -> BoardTotals:
    rows = list(rows)
    invited = [row for row in rows if row.invited]
    return BoardTotals(
        invited=len(invited),
        answered_yes=sum(row.answer == "yes" for row in rows),
        answered_no=sum(row.answer == "no" for row in rows),
        not_answered=sum(row.answer is None for row in invited),
        claims_submitted=sum(row.claim_status in ("submitted", "approved") for row in rows),
        delivery_failures=sum(row.delivery == "failed" for row in rows),
        claims_approved=sum(row.claim_status == "approved" for row in rows),
        claims_sent_back=sum(row.claim_status == "sent_back" for row in rows),
    )


# --- The board as a spreadsheet ---

CSV_COLUMNS = (
    "Commitment",
    "Commitment title",
    "Vendor",
    "Contact",
    "Email",
    "Invited at",
    "Invited by",
    "Not invited because",
    "Delivery",
    "Mail server reply",
    "Answer",
    "Answered at",
    "Reason for No",
    "Reminders sent",
    "Claim",
    "Claim submitted at",
    "Claim revision",
    "Reviewed at",
    "Reviewed by",
    "Reason sent back",
    "Resubmit by",
    "Current payment due",
    "Currency",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def board_csv(board: Board) -> str:
    """One line per contact row, after a header line; times in the project's time zone."""
    timezone = ZoneInfo(board.period.project.timezone)

    def when(at: datetime | None) -> str:
        return at.astimezone(timezone).strftime("%Y-%m-%d %H:%M") if at else ""

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section in board.sections:
        for row in section.rows:
            cells = (
                section.number,
                section.title,
                section.vendor_name,
                row.contact.name,
                row.contact.email,
                when(row.invited_at),
                row.invited_by.name if row.invited_by else "",
                NOT_INVITED_REASONS.get(row.not_invited_reason or "", ""),
                row.delivery.replace("_", " "),
                row.delivery_reply or "",
                {"yes": "Yes", "no": "No"}.get(row.answer or "", ""),
                when(row.answered_at),
                row.decline_reason or "",
                str(row.reminders_sent),
                row.claim_status_name.lower(),
                when(row.claim_submitted_at),
                str(row.claim_revision or ""),
                when(row.reviewed_at),
                row.reviewed_by.name if row.reviewed_by else "",
                row.revision_reason or "",
                row.resubmit_by.isoformat() if row.resubmit_by else "",
            )
            # The amount is ours, a plain number (a negative one is no formula): only the text gets the guard.
            amount = f"{row.current_payment_due:.2f}" if row.current_payment_due is not None else ""
            writer.writerow([*(_inert(cell) for cell in cells), amount, board.currency if amount else ""])
    return out.getvalue()


def _inert(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell
