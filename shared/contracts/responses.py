"""What services/responses publishes on `billing.responses`: a contact's answer to an invite."""

from datetime import datetime
from typing import ClassVar, Literal

from shared.contracts.base import Contact, PublishedEvent
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


class InviteAccepted(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.accepted.v1"


class InviteDeclined(InviteAnswered):
    TYPE: ClassVar[str] = "billing.invite.declined.v1"
