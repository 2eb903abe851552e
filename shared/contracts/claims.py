"""What services/claims publishes on `billing.claims`: progress claims and refused attempts."""

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Contact, Contract, Person, PublishedEvent
from shared.contracts.topics import BILLING_CLAIMS


class ClaimTotals(Contract):
    """The money of a claim (rule 17), in the project's currency; decimal strings on the wire."""

    currency: str
    total_completed_and_stored: Decimal
    retention: Decimal
    total_earned_less_retention: Decimal
    less_previous_claims: Decimal
    current_payment_due: Decimal


class ClaimEvent(PublishedEvent):
    PUBLISHER: ClassVar[str] = "claims"
    TOPIC: ClassVar[str] = BILLING_CLAIMS
    AGGREGATE_TYPE: ClassVar[str] = "claim"
    AGGREGATE_ID: ClassVar[str] = "claim_id"


class ProgressClaimCreated(ClaimEvent):
    TYPE: ClassVar[str] = "billing.claim.created.v1"

    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact  # whom the claim is for
    created_by: Person  # the contact, or the administrator who made it on their behalf
    on_behalf: bool
    cause: Literal["invite_accepted", "claim_page", "administrator"]
    created_at: datetime


class ProgressClaimSubmitted(ClaimEvent):
    TYPE: ClassVar[str] = "billing.claim.submitted.v1"

    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    submitted_by: Person
    submitted_at: datetime
    totals: ClaimTotals
    revision: int = 1  # the first submission is revision 1; each resubmission after a request to revise, the next
    # On a project in a region with a Security of Payment Act (rule 18c): the day by which the builder must answer
    # with a payment schedule. None elsewhere.
    payment_schedule_due: date | None = None


class ClaimReviewed(ClaimEvent):
    """What ProgressClaimApproved and ProgressClaimRevisionRequested share: the claim, who reviewed which revision,
    and what the contact's email names (rule 18)."""

    claim_id: str
    period_id: str
    project_id: str
    project_name: str
    commitment_id: str
    commitment_number: str
    commitment_title: str
    contact: Contact
    reviewed_by: Person
    reviewed_at: datetime
    revision: int


class ProgressClaimApproved(ClaimReviewed):
    TYPE: ClassVar[str] = "billing.claim.approved.v1"

    totals: ClaimTotals


class ProgressClaimRevisionRequested(ClaimReviewed):
    """The claim is sent back to its contact, who may change and resubmit it until `resubmit_by` (a day in the
    project's time zone), even after the period's due date (rule 18)."""

    TYPE: ClassVar[str] = "billing.claim.revision_requested.v1"

    reason: str
    line_notes: dict[str, str] = Field(default_factory=dict)  # schedule of values line id -> a note on that line
    resubmit_by: date


class LateClaimEvent(ClaimEvent):
    """A contact's request to claim after the due date (rule 18b), and its answer: keyed by the request."""

    AGGREGATE_TYPE: ClassVar[str] = "late_claim_request"
    AGGREGATE_ID: ClassVar[str] = "request_id"

    request_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact


class LateClaimRequested(LateClaimEvent):
    TYPE: ClassVar[str] = "billing.claim.late_claim_requested.v1"

    asked: Person  # whom the contact asks: who invited them, or the period's opener
    message: str | None = Field(default=None, max_length=2000)
    requested_at: datetime


class ClaimWindowExtended(LateClaimEvent):
    """The contact may create and submit their claim for this commitment and period until the end of
    `allowed_until` in the project's time zone."""

    TYPE: ClassVar[str] = "billing.claim.window_extended.v1"

    allowed_until: date
    allowed_by: Person
    allowed_at: datetime


class LateClaimRequestRefused(LateClaimEvent):
    TYPE: ClassVar[str] = "billing.claim.late_claim_refused.v1"

    reason: str = Field(max_length=2000)
    refused_by: Person
    refused_at: datetime


class ClaimAttemptRejected(ClaimEvent):
    """A contact's attempt after the due date (rule 15); there is no claim, so it is keyed by the commitment."""

    TYPE: ClassVar[str] = "billing.claim.attempt_rejected.v1"
    AGGREGATE_TYPE: ClassVar[str] = "commitment"
    AGGREGATE_ID: ClassVar[str] = "commitment_id"

    period_id: str
    project_id: str
    commitment_id: str
    attempted_by: Person
    attempt: Literal["invite_accepted", "create", "save", "submit"]
    reason: Literal["due_date_passed"]
    due_at: datetime
    attempted_at: datetime
