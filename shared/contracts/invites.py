"""What services/notifier publishes on `billing.invites`, and the invite itself as every reader sees it."""

from datetime import date, datetime
from typing import ClassVar, Literal

from shared.contracts.base import Contact, Contract, Person, PublishedEvent
from shared.contracts.topics import BILLING_INVITES


class InvitedCommitment(Contract):
    commitment_id: str
    number: str
    title: str
    vendor_name: str


class Invite(Contract):
    """One invite (period, commitment, contact; rule 6) as its email and its answer page show it. The
    notifier builds it for the email, InviteSent carries it, and the responses service keeps it."""

    invite_id: str
    period_id: str
    project_id: str
    project_name: str
    project_timezone: str
    commitment: InvitedCommitment
    contact: Contact
    invited_by: Person
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime

    def due_date_has_passed(self, now: datetime) -> bool:
        return now >= self.due_at


class InviteEvent(PublishedEvent):
    PUBLISHER: ClassVar[str] = "notifier"
    TOPIC: ClassVar[str] = BILLING_INVITES
    AGGREGATE_TYPE: ClassVar[str] = "invite"
    AGGREGATE_ID: ClassVar[str] = "invite_id"


class InviteSent(Invite, InviteEvent):
    TYPE: ClassVar[str] = "billing.invite.sent.v1"

    sent_at: datetime
    resent: bool = False


class InviteDeliveryFailed(InviteEvent):
    TYPE: ClassVar[str] = "billing.invite.delivery_failed.v1"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    kind: Literal["invite", "resend", "reminder"]
    reply: str
    failed_at: datetime


class InviteDeliveryDeferred(InviteEvent):
    """The mail server refused an invite, resend or reminder for now (SMTP 4xx, or could not be reached): it will
    be tried again at `next_attempt_at`. The period board shows the reply."""

    TYPE: ClassVar[str] = "billing.invite.delivery_deferred.v1"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    kind: Literal["invite", "resend", "reminder"]
    reply: str
    attempts: int
    next_attempt_at: datetime
    deferred_at: datetime


class InviteSkipped(InviteEvent):
    """A commitment of the period that gets no invite, and why (rule 5); keyed by the period."""

    TYPE: ClassVar[str] = "billing.invite.skipped.v1"
    AGGREGATE_TYPE: ClassVar[str] = "billing_period"
    AGGREGATE_ID: ClassVar[str] = "period_id"

    period_id: str
    project_id: str
    commitment_id: str
    commitment_number: str
    reason: Literal["no_contacts", "not_approved"]


class InviteReminderSent(InviteEvent):
    TYPE: ClassVar[str] = "billing.invite.reminder_sent.v1"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    due_at: datetime
    sent_at: datetime
