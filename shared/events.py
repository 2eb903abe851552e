"""The event contracts: what the ERP sends us and what our services publish, one pydantic model per version.

Readers are tolerant: unknown fields are ignored, so a producer may add fields without breaking anyone.
A change that breaks a reader gets a new type (`...v2`) beside the old one.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

# Topics (DESIGN.md section 3). Kafka key = aggregate id on every one of them.
ERP_COMMITMENTS = "erp.commitments"
ERP_DIRECTORY = "erp.directory"
BILLING_PERIODS = "billing.periods"
BILLING_INVITES = "billing.invites"
BILLING_RESPONSES = "billing.responses"
BILLING_CLAIMS = "billing.claims"
ACCOUNTS = "accounts"
SERVICES = ("periods", "notifier", "responses", "claims")


def dead_letter_topic(service: str) -> str:
    return f"dlq.{service}"


ALL_TOPICS = (
    ERP_COMMITMENTS,
    ERP_DIRECTORY,
    BILLING_PERIODS,
    BILLING_INVITES,
    BILLING_RESPONSES,
    BILLING_CLAIMS,
    ACCOUNTS,
    *(dead_letter_topic(service) for service in SERVICES),
)


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str]  # the CloudEvents `type`, version included


# --- The ERP contract (DESIGN.md section 4), fixed by the ERP ---

CommitmentsPermission = Literal["none", "read_only", "standard", "admin"]
PERMISSION_RANK: dict[str, int] = {"none": 0, "read_only": 1, "standard": 2, "admin": 3}
# The statuses in which a commitment is invited to bill, and may be billed (rule 5).
INVITABLE_STATUSES = {
    "subcontract": {"approved", "complete"},
    "purchase_order": {"approved", "partially_received", "received"},
}


class ErpProject(Contract):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    timezone: str = Field(min_length=1, description="An IANA time zone name, such as Australia/Sydney.")
    currency: str = Field(min_length=3, max_length=3)
    company_name: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_time_zone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"{timezone!r} is not an IANA time zone name") from error
        return timezone


class ErpVendor(Contract):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)


class ErpContact(Contract):
    user_id: str = Field(min_length=1)
    name: str
    email: EmailStr


class ScheduleOfValuesLine(Contract):
    line_id: str = Field(min_length=1)
    cost_code: str = ""
    description: str = ""
    scheduled_value: Decimal = Field(ge=0, decimal_places=2)


class CommitmentUpserted(Contract):
    TYPE: ClassVar[str] = "erp.commitment.upserted.v1"

    commitment_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    kind: Literal["subcontract", "purchase_order"]
    number: str
    title: str
    status: str = Field(min_length=1)
    project: ErpProject
    vendor: ErpVendor
    invoice_contacts: list[ErpContact] = []
    retention_percent: Decimal = Field(default=Decimal(0), ge=0, le=100)
    schedule_of_values: list[ScheduleOfValuesLine] = []


class ErpCompany(Contract):
    id: str
    name: str


class ProjectMemberUpserted(Contract):
    TYPE: ClassVar[str] = "erp.project_member.upserted.v1"

    user_id: str = Field(min_length=1)
    version: int = Field(ge=0)
    name: str
    email: EmailStr
    company: ErpCompany | None = None
    project_id: str = Field(min_length=1)
    commitments_permission: CommitmentsPermission


class ProjectMemberRemoved(Contract):
    TYPE: ClassVar[str] = "erp.project_member.removed.v1"

    user_id: str = Field(min_length=1)
    project_id: str = Field(min_length=1)
    version: int = Field(ge=0)


# --- Billing periods (published by services/periods on billing.periods) ---


class Person(Contract):
    id: str
    name: str
    email: str


class BillingPeriodOpened(Contract):
    TYPE: ClassVar[str] = "billing.period.opened.v1"

    period_id: str
    project_id: str
    project_name: str
    project_timezone: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    opened_by: Person
    opened_at: datetime
    reminder_days_before_due: int | None = None


class BillingPeriodClosed(Contract):
    TYPE: ClassVar[str] = "billing.period.closed.v1"

    period_id: str
    project_id: str
    closed_at: datetime
    closed_by: Person | None = None
    reason: Literal["closed_by_administrator", "superseded_by_new_period"]


class BillingPeriodDueDateChanged(Contract):
    TYPE: ClassVar[str] = "billing.period.due_date_changed.v1"

    period_id: str
    project_id: str
    previous_due_date: date
    due_date: date
    due_at: datetime
    changed_by: Person
    changed_at: datetime


class InvitesResendRequested(Contract):
    TYPE: ClassVar[str] = "billing.invites.resend_requested.v1"

    period_id: str
    project_id: str
    commitment_ids: list[str] | None = None  # None: every invite of the period
    requested_by: Person
    requested_at: datetime


# --- Invites (published by services/notifier on billing.invites) ---


class Contact(Contract):
    user_id: str
    name: str
    email: str


class InvitedCommitment(Contract):
    commitment_id: str
    number: str
    title: str
    vendor_name: str


class InviteSent(Contract):
    TYPE: ClassVar[str] = "billing.invite.sent.v1"

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
    sent_at: datetime
    resent: bool = False


class InviteDeliveryFailed(Contract):
    TYPE: ClassVar[str] = "billing.invite.delivery_failed.v1"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    kind: Literal["invite", "resend", "reminder"]
    reply: str
    failed_at: datetime


class InviteSkipped(Contract):
    TYPE: ClassVar[str] = "billing.invite.skipped.v1"

    period_id: str
    project_id: str
    commitment_id: str
    commitment_number: str
    reason: Literal["no_contacts", "not_approved"]


class InviteReminderSent(Contract):
    TYPE: ClassVar[str] = "billing.invite.reminder_sent.v1"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    due_at: datetime
    sent_at: datetime


# --- Answers and claims, as far as the notifier follows them (tolerant readers) ---


class InviteAnswered(Contract):
    """InviteAccepted and InviteDeclined share these fields (services/responses publishes both)."""

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    answer: Literal["yes", "no"]
    responded_at: datetime
    due_at: datetime


class InviteAccepted(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.accepted.v1"


class InviteDeclined(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.declined.v1"


# --- Progress claims (published by services/claims on billing.claims) ---


class ClaimTotals(Contract):
    """The money of a claim (rule 17), in the project's currency; decimal strings on the wire."""

    currency: str
    total_completed_and_stored: Decimal
    retention: Decimal
    total_earned_less_retention: Decimal
    less_previous_claims: Decimal
    current_payment_due: Decimal


class ProgressClaimCreated(Contract):
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


class ProgressClaimSubmitted(Contract):
    TYPE: ClassVar[str] = "billing.claim.submitted.v1"

    claim_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    submitted_by: Person
    submitted_at: datetime
    totals: ClaimTotals


class ClaimAttemptRejected(Contract):
    TYPE: ClassVar[str] = "billing.claim.attempt_rejected.v1"

    period_id: str
    project_id: str
    commitment_id: str
    attempted_by: Person
    attempt: Literal["invite_accepted", "create", "save", "submit"]
    reason: Literal["due_date_passed"]
    due_at: datetime
    attempted_at: datetime


# --- Accounts (published by services/claims on accounts) ---


class PasswordLinkRequested(Contract):
    """Someone asked to set or reset their password; the notifier emails them a one-time link.

    The event carries no secret: the link's token is `request_id` and `email` signed with the shared secret
    (`shared.password_links`), and the claims service accepts it once, before `expires_at`, for that address."""

    TYPE: ClassVar[str] = "accounts.password_link_requested.v1"

    request_id: str
    user_id: str
    name: str
    email: EmailStr
    requested_at: datetime
    expires_at: datetime
