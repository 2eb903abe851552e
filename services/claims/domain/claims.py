"""Progress claims and what they are read with (their period, their commitment, the previous claims), and who
may do what with them, and when (rules 14 to 19), free of I/O."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from services.claims.domain import money
from shared.contracts.base import Contact, Person
from shared.contracts.erp import INVITABLE_STATUSES, ScheduleOfValuesLine
from shared.erp import holds
from shared.errors import Conflict, InvalidRequest

Role = Literal["administrator", "contact"]
Refusal = Literal["due_date_passed", "period_closed", "resubmit_by_passed"]

EDITABLE_STATUSES = ("draft", "revise_and_resubmit")  # rule 18: contacts edit only these
RESUBMIT_DAYS = 5  # rule 18: the day to resubmit by, unless the administrator chooses another
RESUBMIT_HORIZON = timedelta(days=365)  # no later than a year ahead
LONGEST_REASON = 4000
LONGEST_NOTE = 2000
STATUS_NAMES = {
    "draft": "Draft",
    "under_review": "Submitted, under review",
    "approved": "Approved",
    "revise_and_resubmit": "Revise and resubmit",
}


@dataclass(frozen=True)
class Period:
    period_id: str
    project_id: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    closed: bool
    opened_by: Person | None = None


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    project_id: str
    project_name: str
    company_name: str
    currency: str
    kind: str
    status: str
    number: str
    title: str
    vendor_name: str
    retention_percent: Decimal
    contacts: tuple[Contact, ...]
    lines: tuple[ScheduleOfValuesLine, ...]
    timezone: str = "UTC"  # the project's
    region: str | None = None  # the project's, ISO 3166-2: its Security of Payment Act, if any (rule 18c)

    @property
    def billable(self) -> bool:
        return self.status in INVITABLE_STATUSES[self.kind]

    @property
    def contractor(self) -> str:
        """Whom a refused contact is told to ask."""
        return self.company_name or "the contractor"

    def contact(self, user_id: str) -> Contact | None:
        return next((contact for contact in self.contacts if contact.user_id == user_id), None)


@dataclass(frozen=True)
class ClaimRecord:
    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    created_by: Person
    on_behalf: bool
    status: str
    submitted_at: datetime | None
    # line id -> (work completed this period, materials presently stored)
    entered: dict[str, tuple[Decimal, Decimal]]
    revision: int = 0  # how many times it has been submitted (rule 18)
    # While sent back (rule 18): the last day to resubmit, why, notes per line id, and by whom.
    resubmit_by: date | None = None
    review_reason: str = ""
    line_notes: dict[str, str] = field(default_factory=dict)
    reviewed_by: Person | None = None
    # Rule 18c: the day the builder's payment schedule is due for the latest submission; the clock runs only while
    # the claim is under review (approval or a request to revise stops it).
    payment_schedule_due: date | None = None

    @property
    def payment_schedule_clock_running(self) -> bool:
        return self.payment_schedule_due is not None and self.status == "under_review"


@dataclass(frozen=True)
class PreviousClaims:
    """What the commitment's submitted claims of earlier periods carry into this one (rule 17)."""

    work: dict[str, Decimal]  # work completed per line, all of them together
    stored: dict[str, Decimal]  # materials presently stored per line, as the latest of them left it
    earned_less_retention: Decimal  # of the latest of them: "less previous claims"


@dataclass(frozen=True)
class ClaimView:
    claim: ClaimRecord
    commitment: Commitment
    period: Period
    role: Role
    refusal: Refusal | None  # why a contact could not change it now
    worked_out: money.Claim
    ask: Person | None = None  # whom a refused contact asks to act on their behalf (`whom_to_ask`)
    payment_schedule_days_left: int | None = None  # business days to the payment schedule's due day (rule 18c)
    late: "LateClaimRequest | None" = None  # the contact's latest request to claim late (rule 18b)

    @property
    def may_ask_late(self) -> bool:
        """Rule 18b: a contact's draft after the due date, unless a request is waiting for its answer."""
        return (
            self.role == "contact"
            and self.claim.status in EDITABLE_STATUSES
            and may_ask_late(self.refusal)
            and not self.period.closed
            and (self.late is None or not self.late.pending)
        )

    @property
    def can_edit(self) -> bool:
        return may_edit(self.role, self.claim.status, self.refusal)

    @property
    def can_review(self) -> bool:
        return self.role == "administrator" and self.claim.status == "under_review"

    @property
    def resubmit_until(self) -> datetime | None:
        """When a claim sent back can no longer be resubmitted (rule 18)."""
        if self.claim.resubmit_by is None:
            return None
        return resubmit_deadline(self.claim.resubmit_by, self.commitment.timezone)


@dataclass(frozen=True)
class NewClaim:
    """What asking for the claim of a commitment and period comes to: the claim there is already, or the one
    that would be made for `contact` (unless `refusal` says why a contact may not make it now)."""

    period: Period
    commitment: Commitment
    contact: Contact | None
    existing_claim_id: str | None
    refusal: Refusal | None
    ask: Person | None = None  # whom a refused contact asks to create it on their behalf (`whom_to_ask`)
    late: "LateClaimRequest | None" = None  # the contact's latest request to claim late (rule 18b)

    @property
    def may_ask_late(self) -> bool:
        """Rule 18b: after the due date, unless a request is waiting for its answer."""
        return may_ask_late(self.refusal) and not self.period.closed and (self.late is None or not self.late.pending)


@dataclass(frozen=True)
class OnBehalf:
    """What an administrator's claim on a contact's behalf would be (rule 15), for the page that confirms it;
    or the claim the commitment has already this period."""

    period: Period
    commitment: Commitment
    contact: Contact
    administrator: Person
    existing_claim_id: str | None
    due_date_passed: bool = False  # the contact could no longer make it; the administrator still may (rule 15)


@dataclass(frozen=True)
class DesignatedCommitment:
    """A commitment the person is a progress claim contact of, as "My invites and claims" lists it (rule 16):
    with the project's latest period, if any, and the commitment's claim of that period, if any."""

    commitment_id: str
    number: str
    title: str
    project_name: str
    billable: bool
    period: Period | None
    claim_id: str | None
    claim_status: str | None

    def may_start_claim(self, now: datetime) -> bool:
        """A contact may make the claim without an invite while the period is open, before its due date."""
        return (
            self.billable
            and self.claim_id is None
            and self.period is not None
            and contact_refusal(self.period.due_at, self.period.closed, now) is None
        )


class FieldErrors(InvalidRequest):
    """What a person entered that cannot be taken, each message for its field ("this_period.<line>",
    "stored.<line>"; on a request to revise, "reason", "note.<line>", "resubmit_by")."""

    def __init__(
        self, errors: dict[str, str], message: str = "Some amounts cannot be claimed; see the messages next to them."
    ):
        super().__init__(message)
        self.errors = errors


def role_for(commitments_permission: str, designated: bool) -> Role | None:
    """Rule 19: Admin on the project's Commitments tool makes an administrator; Read Only (or more) and being
    designated on the commitment makes a contact; anyone else has no part in the commitment's claims."""
    if holds(commitments_permission, "admin"):
        return "administrator"
    if holds(commitments_permission, "read_only") and designated:
        return "contact"
    return None


def due_date_has_passed(due_at: datetime, now: datetime) -> bool:
    return now >= due_at


def contact_refusal(due_at: datetime, period_closed: bool, now: datetime) -> Refusal | None:
    """Why a contact may not create, change or submit a claim now (rules 15 and 16), or None when they may.
    Administrators are never refused for these reasons: they act on a contact's behalf at any time."""
    if due_date_has_passed(due_at, now):
        return "due_date_passed"
    if period_closed:
        return "period_closed"
    return None


def claim_refusal(
    status: str, resubmit_by: date | None, period: Period, timezone: str, now: datetime
) -> Refusal | None:
    """Why a contact may not change or submit this claim now, or None when they may. A claim sent back may be
    changed and resubmitted until the end of `resubmit_by` in the project's time zone, even after the due date:
    it is the same claim, so rule 15 does not stop it (rule 18). A closed period stays closed."""
    if status == "revise_and_resubmit" and resubmit_by is not None:
        if period.closed:
            return "period_closed"
        return "resubmit_by_passed" if now >= resubmit_deadline(resubmit_by, timezone) else None
    return contact_refusal(period.due_at, period.closed, now)


def resubmit_deadline(resubmit_by: date, timezone: str) -> datetime:
    """The end of the day `resubmit_by` in the project's time zone: the first moment of the next (rule 18)."""
    return datetime.combine(resubmit_by + timedelta(days=1), time(), ZoneInfo(timezone))


def local_today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def default_resubmit_by(now: datetime, timezone: str) -> date:
    """Rule 18 (issue 11): five days after today, in the project's time zone."""
    return local_today(now, timezone) + timedelta(days=RESUBMIT_DAYS)


def require_under_review(status: str) -> None:
    """Rule 18: only a submitted claim, under review, is approved or sent back."""
    if status != "under_review":
        raise Conflict(
            f"This claim is {STATUS_NAMES[status].lower()}, so it cannot be reviewed now: only a submitted claim "
            "under review can be approved or sent back. Open the claim again to see where it stands."
        )


@dataclass(frozen=True)
class RevisionRequest:
    """An administrator's request to revise (rule 18), as checked: the reason, notes per line, the last day."""

    reason: str
    line_notes: dict[str, str]
    resubmit_by: date


def check_revision_request(
    reason: str, line_notes: dict[str, str], resubmit_by: date | None, commitment: Commitment, now: datetime
) -> RevisionRequest:
    """Rule 18: a reason is required; notes are optional, each on a line of the commitment; the day to resubmit
    by defaults to five days later and is neither past nor more than a year ahead, in the project's time zone.
    FieldErrors naming each field ("reason", "note.<line>", "resubmit_by") that cannot be taken."""
    errors: dict[str, str] = {}
    reason = reason.strip()
    if not reason:
        errors["reason"] = "Say why the claim is sent back: the contact reads this in the email and on the claim."
    elif len(reason) > LONGEST_REASON:
        errors["reason"] = f"Keep the reason to {LONGEST_REASON:,} characters; this one has {len(reason):,}."
    line_ids = {line.line_id for line in commitment.lines}
    notes = {}
    for line_id, note in line_notes.items():
        note = note.strip()
        if not note:
            continue
        if line_id not in line_ids:
            errors[f"note.{line_id[:100]}"] = f"{commitment.number} has no schedule of values line {line_id[:100]}."
        elif len(note) > LONGEST_NOTE:
            errors[f"note.{line_id}"] = f"Keep a note to {LONGEST_NOTE:,} characters; this one has {len(note):,}."
        else:
            notes[line_id] = note
    today = local_today(now, commitment.timezone)
    resubmit_by = resubmit_by or default_resubmit_by(now, commitment.timezone)
    if resubmit_by < today:
        errors["resubmit_by"] = "Choose a day to resubmit by from today onwards; this one has passed."
    elif resubmit_by > today + RESUBMIT_HORIZON:
        errors["resubmit_by"] = "Choose a day to resubmit by within a year from today."
    if errors:
        raise FieldErrors(errors, "The claim was not sent back: " + " ".join(errors.values()))
    return RevisionRequest(reason=reason, line_notes=notes, resubmit_by=resubmit_by)


def parse_day(text: str) -> date | None:
    """A day as a date field sends it (2026-12-10); None for nothing; FieldErrors when it is not a day."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = "Enter the day to resubmit by as year-month-day, such as 2026-12-10."
        raise FieldErrors({"resubmit_by": message}, f"The claim was not sent back: {message}") from None


def whom_to_ask(invited_by: Person | None, period: Period) -> Person | None:
    """Whom a contact refused after the due date asks for a claim on their behalf (rule 15): who invited them
    (the opener, or whoever resent the invite), or else the period's opener."""
    return invited_by or period.opened_by


def may_edit(role: Role, status: str, refusal: Refusal | None) -> bool:
    return status in EDITABLE_STATUSES and (role == "administrator" or refusal is None)


def still_to_answer(answer: str | None, due_at: datetime, period_closed: bool, now: datetime) -> bool:
    """Whether an invite can still be answered: its period open, its due date ahead, and not accepted."""
    return contact_refusal(due_at, period_closed, now) is None and answer != "yes"


def require_billable(commitment: Commitment) -> None:
    if not commitment.billable:
        raise Conflict(
            f"{commitment.number} is not approved (its status is {commitment.status.replace('_', ' ')}), "
            "so no progress claim can be made for it."
        )


def parse_amounts(typed: dict[str, tuple[str, str]], commitment: Commitment) -> dict[str, tuple[Decimal, Decimal]]:
    """line id -> (work completed this period, materials presently stored), from what a person typed for each
    line of the commitment; FieldErrors naming every amount that cannot be read."""
    errors: dict[str, str] = {}
    amounts: dict[str, tuple[Decimal, Decimal]] = {}
    for line in commitment.lines:
        this_period_text, stored_text = typed.get(line.line_id, ("", ""))
        parsed = []
        for name, text in (("this_period", this_period_text), ("stored", stored_text)):
            try:
                parsed.append(money.parse_amount(text))
            except money.AmountError as error:
                errors[f"{name}.{line.line_id}"] = str(error)
                parsed.append(money.ZERO)
        amounts[line.line_id] = (parsed[0], parsed[1])
    if errors:
        raise FieldErrors(errors)
    return amounts


def line_inputs(
    claim: ClaimRecord,
    commitment: Commitment,
    previous: PreviousClaims,
    entered: dict[str, tuple[Decimal, Decimal]] | None = None,
) -> list[money.LineInput]:
    """The claim's lines as the money is worked out from them (with `entered` in place of what is saved).
    A claim nothing was entered on yet starts with the materials the previous claim left stored."""
    if entered is None:
        entered = claim.entered or {line_id: (money.ZERO, stored) for line_id, stored in previous.stored.items()}
    return [
        money.LineInput(
            line_id=line.line_id,
            cost_code=line.cost_code,
            description=line.description,
            scheduled_value=line.scheduled_value,
            previous=previous.work.get(line.line_id, money.ZERO),
            this_period=entered.get(line.line_id, (money.ZERO, money.ZERO))[0],
            materials_stored=entered.get(line.line_id, (money.ZERO, money.ZERO))[1],
        )
        for line in commitment.lines
    ]


def refuse_over_claims(lines: list[money.LineInput]) -> None:
    """FieldErrors for every line that would claim more than its scheduled value."""
    over = {
        f"this_period.{line.line_id}": "This claims more than the line's scheduled value "
        f"({line.scheduled_value:,.2f}) in total, counting previous claims and stored materials."
        for line in lines
        if money.over_claimed(line)
    }
    if over:
        raise FieldErrors(over)


# --- Asking to claim late (rule 18b) ---

LATE_CLAIM_DAYS = 3  # the day allowed until, unless the administrator chooses another
LATE_CLAIM_HORIZON = timedelta(days=60)  # no later than this ahead
LONGEST_LATE_TEXT = 2000  # the contact's message, the administrator's reason


@dataclass(frozen=True)
class LateClaimRequest:
    """A contact's request to claim after the due date, and its answer once there is one (rule 18b)."""

    request_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    asked: Person
    message: str | None
    requested_at: datetime
    status: Literal["pending", "allowed", "refused"] = "pending"
    allowed_until: date | None = None
    reason: str | None = None
    answered_by: Person | None = None
    answered_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.status == "pending"


def late_window_open(
    request: LateClaimRequest | None, user_id: str, commitment_id: str, timezone: str, now: datetime
) -> bool:
    """Rule 18b: an allowed request lets its contact, for its commitment only, create and submit the claim until
    the end of the day allowed in the project's time zone."""
    return (
        request is not None
        and request.status == "allowed"
        and request.allowed_until is not None
        and request.contact.user_id == user_id
        and request.commitment_id == commitment_id
        and now < resubmit_deadline(request.allowed_until, timezone)
    )


def late_refusal(
    refusal: Refusal | None,
    request: LateClaimRequest | None,
    user_id: str,
    commitment: Commitment,
    period: Period,
    now: datetime,
) -> Refusal | None:
    """Rule 15 as rule 18b relaxes it: the refusal for the due date having passed is lifted while the contact's
    allowed window is open; a closed period stays closed."""
    if period.closed:
        return refusal
    if refusal == "due_date_passed" and late_window_open(
        request, user_id, commitment.commitment_id, commitment.timezone, now
    ):
        return None
    return refusal


def may_ask_late(refusal: Refusal | None) -> bool:
    """Rule 18b: a contact asks to claim late only once the due date has passed (and the period is open)."""
    return refusal == "due_date_passed"


def check_late_message(message: str) -> str | None:
    """The contact's optional message to the administrator; FieldErrors when it is too long."""
    message = message.strip()
    if len(message) > LONGEST_LATE_TEXT:
        text = f"Keep the message to {LONGEST_LATE_TEXT:,} characters; this one has {len(message):,}."
        raise FieldErrors({"message": text}, f"Nothing was asked: {text}")
    return message or None


def default_allowed_until(now: datetime, timezone: str) -> date:
    """Rule 18b: three days after today, in the project's time zone."""
    return local_today(now, timezone) + timedelta(days=LATE_CLAIM_DAYS)


def check_allowed_until(allowed_until: date | None, timezone: str, now: datetime) -> date:
    """Rule 18b: the day a late claim is allowed until defaults to three days later, and is neither past nor more
    than 60 days ahead in the project's time zone."""
    today = local_today(now, timezone)
    allowed_until = allowed_until or default_allowed_until(now, timezone)
    if allowed_until < today:
        text = "Choose a day from today onwards; this one has passed."
    elif allowed_until > today + LATE_CLAIM_HORIZON:
        text = f"Choose a day within {LATE_CLAIM_HORIZON.days} days from today."
    else:
        return allowed_until
    raise FieldErrors({"allowed_until": text}, f"The late claim was not allowed: {text}")


def check_late_refusal_reason(reason: str) -> str:
    """Rule 18b: a refusal says why; the contact reads it in the email and on the New Progress Claim page."""
    reason = reason.strip()
    if not reason:
        text = "Say why the late claim is refused: the contact reads this in the email and on the claim page."
    elif len(reason) > LONGEST_LATE_TEXT:
        text = f"Keep the reason to {LONGEST_LATE_TEXT:,} characters; this one has {len(reason):,}."
    else:
        return reason
    raise FieldErrors({"reason": text}, f"The request was not refused: {text}")


def require_pending(request: LateClaimRequest, period: Period) -> None:
    """Rule 18b: a request is answered once, and not in a closed period (where no late claim could be made)."""
    if period.closed:
        raise Conflict(
            "The billing period is closed, so no claim can be made late in it; nothing was changed. Create the claim "
            "on the contact's behalf from the period board if it is still needed."
        )
    if not request.pending:
        answer = f"allowed until {request.allowed_until}" if request.status == "allowed" else "refused"
        raise Conflict(f"This request to claim late has been answered already ({answer}); nothing was changed.")


def parse_allowed_until(text: str) -> date | None:
    """The day a late claim is allowed until, as a date field sends it; None for nothing."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = "Enter the day as year-month-day, such as 2026-12-10."
        raise FieldErrors({"allowed_until": message}, f"The late claim was not allowed: {message}") from None
