"""What services/periods publishes on `billing.periods`; a period's events are keyed by its id."""

import uuid
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator

from shared.contracts.base import Person, PublishedEvent
from shared.contracts.topics import BILLING_PERIODS


def _a_uuid(text: str) -> str:
    uuid.UUID(text)  # ValueError, and so a validation error, for anything else
    return text


# The periods service names each period with a UUID; an event naming one otherwise is malformed (dead letters at
# once, rather than a failure in each consumer's handler).
PeriodId = Annotated[str, AfterValidator(_a_uuid)]


class PeriodEvent(PublishedEvent):
    PUBLISHER: ClassVar[str] = "periods"
    TOPIC: ClassVar[str] = BILLING_PERIODS
    AGGREGATE_TYPE: ClassVar[str] = "billing_period"
    AGGREGATE_ID: ClassVar[str] = "period_id"

    period_id: PeriodId
    project_id: str


class BillingPeriodOpened(PeriodEvent):
    TYPE: ClassVar[str] = "billing.period.opened.v1"

    project_name: str
    project_timezone: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    opened_by: Person
    opened_at: datetime
    reminder_days_before_due: int | None = None


class BillingPeriodClosed(PeriodEvent):
    TYPE: ClassVar[str] = "billing.period.closed.v1"

    closed_at: datetime
    closed_by: Person | None = None
    reason: Literal["closed_by_administrator", "superseded_by_new_period"]


class BillingPeriodDueDateChanged(PeriodEvent):
    TYPE: ClassVar[str] = "billing.period.due_date_changed.v1"

    previous_due_date: date
    due_date: date
    due_at: datetime
    changed_by: Person
    changed_at: datetime


class InvitesResendRequested(PeriodEvent):
    TYPE: ClassVar[str] = "billing.invites.resend_requested.v1"

    commitment_ids: list[str] | None = None  # None: every invite of the period
    # Narrower still (both optional, so older readers and writers agree): only these contacts' invites, and
    # only the invites nobody has answered yet.
    contact_user_ids: list[str] | None = None
    only_not_answered: bool = False
    requested_by: Person
    requested_at: datetime
