"""Who is invited, and when invites, reminders, password links and claim reviews may be sent (rules 5 to 9,
18), free of I/O."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.contracts.claims import (
    ClaimWindowExtended,
    LateClaimRequested,
    LateClaimRequestRefused,
    ProgressClaimApproved,
    ProgressClaimRevisionRequested,
)
from shared.contracts.erp import INVITABLE_STATUSES
from shared.contracts.invites import Invite

_INVITE_NAMESPACE = uuid.UUID("5b0d6c62-4a0e-4b8e-9b59-1f6f0c9b7a11")


def skip_reason(kind: str, status: str, contact_count: int) -> str | None:
    """Why a commitment gets no invite (rule 5), or None when it is invitable."""
    if status not in INVITABLE_STATUSES.get(kind, set()):
        return "not_approved"
    if contact_count == 0:
        return "no_contacts"
    return None


def invite_id(period_id: str, commitment_id: str, contact_user_id: str) -> str:
    """An invite is identified by (period, commitment, contact) (rule 6): the same three give the same id."""
    return str(uuid.uuid5(_INVITE_NAMESPACE, f"{period_id}/{commitment_id}/{contact_user_id}"))


def message_id(invite: str, kind: str, request: str = "") -> str:
    """The Message-ID of one sending: a rare duplicate after a crash is recognisably the same message."""
    suffix = f".{request}" if request else ""
    return f"<{invite}.{kind}{suffix}@invite-to-bill>"


def may_send(due_at: datetime, period_status: str, now: datetime) -> bool:
    """No invite, resend or reminder goes out once the due date has passed or the period closed (rule 7)."""
    return period_status == "open" and now < due_at


def may_send_password_link(expires_at: datetime, now: datetime) -> bool:
    """A password link past its expiry would only be refused when followed: it is not sent at all."""
    return now < expires_at


def reminder_at(due_at: datetime, days_before_due: int | None, timezone: str) -> datetime | None:
    """The same wall-clock time as the due instant, that many days earlier in the project's time zone."""
    if not days_before_due:
        return None
    local = due_at.astimezone(ZoneInfo(timezone))
    return (local - timedelta(days=days_before_due)).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for sends the mail server refused for now (4xx) or could not take (connection errors)."""

    first_delay_seconds: float = 5
    max_delay_seconds: float = 15 * 60

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the given number of failed attempts."""
        doublings = min(max(attempts - 1, 0), 30)  # past the ceiling long before; keeps the number finite
        seconds = min(self.first_delay_seconds * 2**doublings, self.max_delay_seconds)
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Delivery:
    """One email about an invite waiting to be sent (rule 6: written before its send)."""

    key: int  # its delivery id
    kind: str  # invite, resend or reminder
    message_id: str
    attempts: int
    lease: uuid.UUID  # this worker's claim on the row: only under it is the email sent and its outcome recorded
    invite: Invite
    period_status: str
    declined: bool
    claimed: bool  # the commitment has a claim this period
    trace_context: dict[str, str] = field(default_factory=dict, compare=False)  # of what caused it

    def reason_not_to_send(self, now: datetime) -> str | None:
        """Why the email is cancelled instead of sent (rules 7 and 9), or None to send it."""
        if not may_send(self.invite.due_at, self.period_status, now):
            return "the due date passed or the period closed before sending"
        if self.kind == "reminder" and (self.declined or self.claimed):
            return "the contact declined or claimed before the reminder went"
        return None


@dataclass(frozen=True)
class PasswordMail:
    """One email with a one-time password link, waiting to be sent."""

    key: str  # the request's id
    message_id: str
    attempts: int
    lease: uuid.UUID  # as a Delivery's
    name: str
    email: str
    expires_at: datetime

    def reason_not_to_send(self, now: datetime) -> str | None:
        """A link that has expired would only be refused when followed: it is not sent at all."""
        return None if may_send_password_link(self.expires_at, now) else "the link expired before it could be sent"


# A review's kind names its email (the metrics' kind too) and its event type.
CLAIM_APPROVED = "claim_approved"
CLAIM_REVISION_REQUESTED = "claim_revision_requested"


def claim_review_kind(review: ProgressClaimApproved | ProgressClaimRevisionRequested) -> str:
    return CLAIM_APPROVED if isinstance(review, ProgressClaimApproved) else CLAIM_REVISION_REQUESTED


def claim_review_mail_id(claim_id: str, kind: str, revision: int) -> str:
    """One email per review of one revision of a claim (rule 18): a review heard twice is one email."""
    return f"{claim_id}.{kind}.{revision}"


def claim_review_message_id(claim_id: str, kind: str, revision: int) -> str:
    """The Message-ID of a review's email: the claim, the kind and the revision, as its row's key. The kind is
    cut short so that the header keeps to one line (a folded Message-ID is read back with a leading space)."""
    return message_id(claim_id, "approved" if kind == CLAIM_APPROVED else "revise", str(revision))


def line_name(cost_code: str, description: str, line_id: str) -> str:
    """A schedule of values line as the builder reads it: its cost code and description, or its id."""
    return " ".join(part for part in (cost_code.strip(), description.strip()) if part) or line_id


@dataclass(frozen=True)
class ClaimReviewMail:
    """One email telling a contact their progress claim was approved or sent back to revise (rule 18)."""

    key: str  # claim_review_mail_id
    kind: str  # CLAIM_APPROVED or CLAIM_REVISION_REQUESTED
    message_id: str
    attempts: int
    lease: uuid.UUID  # as a Delivery's
    review: ProgressClaimApproved | ProgressClaimRevisionRequested
    line_names: dict[str, str] = field(default_factory=dict)  # line id -> its name, in the schedule's order
    project_timezone: str | None = None  # None while the notifier has not heard of the period
    trace_context: dict[str, str] = field(default_factory=dict, compare=False)  # of the review's event

    def line_notes(self) -> list[tuple[str, str]]:
        """A revision's notes, each by its line's name, in the schedule of values' order; a line the ERP read
        model did not know when the review was heard goes last, by its id."""
        notes = getattr(self.review, "line_notes", {})
        order = {line_id: position for position, line_id in enumerate(self.line_names)}
        ordered = sorted(notes, key=lambda line_id: (order.get(line_id, len(order)), line_id))
        return [(self.line_names.get(line_id) or line_id, notes[line_id]) for line_id in ordered]

    def reason_not_to_send(self, now: datetime) -> str | None:
        """A review is news whenever it arrives: unlike an invite it has no date after which it is not sent."""
        return None


# --- The payment-schedule reminder (rule 18c) ---

REMINDER_HOUR = 8  # the reminder day's morning, in the project's time zone: a working day to act on it


def payment_schedule_remind_at(remind_on: date, timezone: str) -> datetime:
    """When the administrators are reminded: the morning of the day two business days before the due day."""
    return datetime.combine(remind_on, time(REMINDER_HOUR), ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))


def payment_schedule_reminder_mail_id(claim_id: str, revision: int, administrator_id: str) -> str:
    """One reminder per submission (revision) of a claim and administrator: sent once, however often scheduled."""
    return f"{claim_id}.{revision}.payment-schedule.{administrator_id}"


@dataclass(frozen=True)
class PaymentScheduleReminderMail:
    """One email reminding an administrator that a claim's payment schedule is due in two business days."""

    key: str  # payment_schedule_reminder_mail_id
    message_id: str
    attempts: int
    lease: uuid.UUID  # as a Delivery's
    administrator: dict  # id, name, email
    reminder: dict  # what the email says (repository `payment_schedule_reminder`)

    def reason_not_to_send(self, now: datetime) -> str | None:
        """A review that stops the clock cancels the row itself (`stop_payment_schedule_clock`)."""
        return None


# --- A request to claim late and its answer (rule 18b) ---

LATE_CLAIM_REQUESTED = "late_claim_requested"
LATE_CLAIM_ALLOWED = "late_claim_allowed"
LATE_CLAIM_REFUSED = "late_claim_refused"
LateClaimStep = LateClaimRequested | ClaimWindowExtended | LateClaimRequestRefused
LATE_CLAIM_EVENTS: dict[str, type] = {
    LATE_CLAIM_REQUESTED: LateClaimRequested,
    LATE_CLAIM_ALLOWED: ClaimWindowExtended,
    LATE_CLAIM_REFUSED: LateClaimRequestRefused,
}


def late_claim_kind(step: LateClaimStep) -> str:
    return next(kind for kind, contract in LATE_CLAIM_EVENTS.items() if isinstance(step, contract))


def late_claim_mail_id(request_id: str, kind: str) -> str:
    """One email per step of one request (rule 18b): a step heard twice is one email."""
    return f"{request_id}.{kind}"


def late_claim_message_id(request_id: str, kind: str) -> str:
    """The Message-ID of a step's email: the request and the kind (cut short, to keep the header one line)."""
    return message_id(request_id, kind.removeprefix("late_claim_"))


@dataclass(frozen=True)
class LateClaimMail:
    """One email about a request to claim late: to the administrator asked, or to the contact with the answer."""

    key: str  # late_claim_mail_id
    kind: str  # LATE_CLAIM_REQUESTED, LATE_CLAIM_ALLOWED or LATE_CLAIM_REFUSED
    message_id: str
    attempts: int
    lease: uuid.UUID  # as a Delivery's
    step: LateClaimStep
    project_name: str | None = None  # None while the ERP read model does not know them
    commitment: str | None = None  # its number and title
    project_timezone: str | None = None
    trace_context: dict[str, str] = field(default_factory=dict, compare=False)

    def reason_not_to_send(self, now: datetime) -> str | None:
        """A request or its answer is news whenever it arrives."""
        return None
