"""The administrators' HTTP API for billing periods (OpenAPI at /docs)."""

from datetime import date, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.periods.domain.periods import (
    MOST_COMMITMENTS_PER_RESEND,
    MOST_CONTACTS_PER_RESEND,
    MOST_REMINDER_DAYS,
    BillingPeriod,
    describe_resend,
)
from services.periods.use_cases import periods as use_cases
from shared.contracts.base import Person
from shared.sessions import CurrentSession

router = APIRouter(prefix="/api", tags=["billing periods"])


class NewBillingPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: date
    end_date: date
    due_date: date
    reminder_days_before_due: int | None = Field(
        default=None,
        ge=1,
        le=MOST_REMINDER_DAYS,
        description="Remind contacts who have not answered this many days before.",
    )


class InviteResend(BaseModel):
    """What to send again; every field narrows the resend, and leaving them all out resends every invite."""

    model_config = ConfigDict(extra="forbid")

    commitment_ids: list[str] | None = Field(
        default=None,
        description=f"Only these commitments of the project, at most {MOST_COMMITMENTS_PER_RESEND} (default: all).",
    )
    contact_user_ids: list[str] | None = Field(
        default=None,
        description=(
            f"Only the invites of these contacts (ERP user ids), at most {MOST_CONTACTS_PER_RESEND}; each must be a "
            "progress claim contact of the commitments named, or of any of the project's (default: every contact)."
        ),
    )
    only_not_answered: bool = Field(
        default=False,
        description="Only the invites nobody has answered yet, neither Yes nor No (default: answered ones too).",
    )


class DueDateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_date: date


class BillingPeriodView(BaseModel):
    id: str
    project_id: str
    project_name: str
    project_timezone: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    status: str
    opened_by: Person
    opened_at: datetime
    closed_at: datetime | None
    reminder_days_before_due: int | None

    @classmethod
    def of(cls, period: BillingPeriod) -> "BillingPeriodView":
        return cls(
            id=period.id,
            project_id=period.project.id,
            project_name=period.project.name,
            project_timezone=period.project.timezone,
            start_date=period.start_date,
            end_date=period.end_date,
            due_date=period.due_date,
            due_at=period.due_at,
            status=period.status,
            opened_by=period.opened_by,
            opened_at=period.opened_at,
            closed_at=period.closed_at,
            reminder_days_before_due=period.reminder_days_before_due,
        )


def _now(request: Request) -> datetime:
    return request.app.state.clock()


@router.post("/projects/{project_id}/billing-periods", status_code=201)
async def open_billing_period(
    project_id: str, body: NewBillingPeriod, session: CurrentSession, request: Request
) -> BillingPeriodView:
    """Open a billing period for the project, closing the one that was open, and invite its contacts.

    The due date may already have passed: a period recorded after the fact. Then no invites go out (rule 7) and
    claims are made on the contacts' behalf. The API asks for no confirmation of that (the page does). Refused
    with 422: an end before the start, a due date before the start, dates more than 10 years from today."""
    period = await use_cases.open_billing_period(
        request.app.state.pool,
        user_id=session.user_id,
        project_id=project_id,
        start_date=body.start_date,
        end_date=body.end_date,
        due_date=body.due_date,
        reminder_days_before_due=body.reminder_days_before_due,
        now=_now(request),
    )
    return BillingPeriodView.of(period)


@router.get("/projects/{project_id}/billing-periods")
async def list_billing_periods(project_id: str, session: CurrentSession, request: Request) -> list[BillingPeriodView]:
    """The project's billing periods, newest first."""
    periods = await use_cases.list_billing_periods(
        request.app.state.pool, user_id=session.user_id, project_id=project_id
    )
    return [BillingPeriodView.of(period) for period in periods]


@router.get("/billing-periods/{period_id}")
async def get_billing_period(period_id: str, session: CurrentSession, request: Request) -> BillingPeriodView:
    period = await use_cases.get_billing_period(request.app.state.pool, user_id=session.user_id, period_id=period_id)
    return BillingPeriodView.of(period)


@router.patch("/billing-periods/{period_id}")
async def change_due_date(
    period_id: str, body: DueDateChange, session: CurrentSession, request: Request
) -> BillingPeriodView:
    """Move the due date of an open period; invites and banners follow the new date.

    It may be moved earlier, to today or to a day already passed, which ends claiming now: contacts can no
    longer claim or answer Yes, and no invites or resends go out. The API asks for no confirmation of that (the
    page does). Refused with 422: a due date before the start, or more than 10 years from today."""
    period = await use_cases.change_due_date(
        request.app.state.pool,
        user_id=session.user_id,
        period_id=period_id,
        due_date=body.due_date,
        now=_now(request),
    )
    return BillingPeriodView.of(period)


@router.post("/billing-periods/{period_id}/invites/resend", status_code=202)
async def resend_invites(
    period_id: str, session: CurrentSession, request: Request, body: InviteResend | None = None
) -> dict:
    """Email the period's invites again, with the same links and from you as Invited By: every invite, or only
    those of some commitments or contacts, or only those not answered yet (refused once the due date has
    passed). The answer says, in a sentence, what will be sent again."""
    body = body or InviteResend()
    await use_cases.resend_invites(
        request.app.state.pool,
        user_id=session.user_id,
        period_id=period_id,
        commitment_ids=body.commitment_ids,
        contact_user_ids=body.contact_user_ids,
        only_not_answered=body.only_not_answered,
        now=_now(request),
    )
    return {"detail": describe_resend(body.commitment_ids, body.contact_user_ids, body.only_not_answered)}


@router.post("/billing-periods/{period_id}/close")
async def close_billing_period(period_id: str, session: CurrentSession, request: Request) -> BillingPeriodView:
    period = await use_cases.close_billing_period(
        request.app.state.pool, user_id=session.user_id, period_id=period_id, now=_now(request)
    )
    return BillingPeriodView.of(period)
