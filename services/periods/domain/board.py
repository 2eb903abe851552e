"""The period board (issue 10): per commitment of the project, per contact, what happened and why, free of I/O.

The board is a read model: the periods service hears the other services' events (`billing.invites`,
`billing.responses`, `billing.claims`) and keeps what each contact's row needs. Events arrive in any order and
sometimes twice; the rules here make the outcome the same whatever the order.

INTERFACE FIRST: the shapes below are what the pages read. The rules that fill them are to be written.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from services.periods.domain.periods import BillingPeriod
from shared.contracts.base import Contact, Person

# Why a contact (or a whole commitment) has no invite this period, in the administrator's words.
NOT_INVITED_REASONS = {
    "draft": "the commitment is a draft",
    "void": "the commitment is void",
    "not_approved": "the commitment is not approved",
    "no_contacts": "the commitment has no progress claim contacts",
    "no_permission": "the contact has no Read Only (or higher) permission on the project's Commitments tool",
    "removed": "the contact was removed from the commitment",
    "due_date_passed": "the due date had passed when the period opened",
}

DeliveryState = Literal["waiting", "sent", "retrying", "failed", "not_sent"]
ClaimState = Literal["draft", "submitted"]


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
    claims_submitted: int
    delivery_failures: int


@dataclass(frozen=True)
class Board:
    period: BillingPeriod
    currency: str
    sections: list[CommitmentSection]
    totals: BoardTotals
    as_of: datetime | None  # when the last event shown here happened; None before any
