"""What services/responses publishes on `billing.responses`: a contact's answer to an invite."""

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from shared.contracts.base import Contact, Contract, PublishedEvent
from shared.contracts.topics import BILLING_RESPONSES


class InviteAnswered(PublishedEvent):
    """InviteAccepted and InviteDeclined share these fields."""

    PUBLISHER: ClassVar[str] = "responses"
    TOPIC: ClassVar[str] = BILLING_RESPONSES
    AGGREGATE_TYPE: ClassVar[str] = "invite"
    AGGREGATE_ID: ClassVar[str] = "invite_id"

    invite_id: str
    period_id: str
    project_id: str
    commitment_id: str
    contact: Contact
    answer: Literal["yes", "no"]
    responded_at: datetime
    due_at: datetime


class DeclineReason(Contract):
    """Why a contact said No (rule 18a), when they said: a choice, and for "other" their words."""

    code: Literal["no_work_this_period", "work_complete", "in_dispute", "other"]
    text: str | None = Field(default=None, max_length=500)


class InviteAccepted(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.accepted.v1"


class InviteDeclined(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.declined.v1"

    reason: DeclineReason | None = None  # optional (rule 18a): readers that do not know it ignore it
