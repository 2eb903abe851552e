"""What services/claims publishes on `billing.claims`: progress claims and refused attempts."""

from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal

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
