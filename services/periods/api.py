"""The administrators' HTTP API for billing periods (OpenAPI at /docs)."""

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.periods.domain.periods import (
    MOST_COMMITMENTS_PER_RESEND,
    MOST_CONTACTS_PER_RESEND,
    MOST_REMINDER_DAYS,
    BillingPeriod,
    describe_resend,
)
from services.periods.domain.schedules import MOST_DAYS_TO_CLAIM, MOST_WEEKS
from services.periods.use_cases import periods as use_cases
from services.periods.use_cases import schedules
from services.periods.use_cases.schedules import ProjectSchedule
from shared.contracts.base import Person
from shared.errors import NotFound
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


# --- Schedules and the project's reminder days (rules 4a and 9) ---


class ScheduleChange(BaseModel):
    """A project's schedule: monthly from a day of the month, or every N weeks from a first start."""

    model_config = ConfigDict(extra="forbid")

    cadence: Literal["monthly", "weekly"]
    day_of_month: int | None = Field(
        default=None,
        description="Monthly: the day each period starts, 1 to 31; a month without that day starts on its last day, "
        "so 31 is the last day of every month.",
    )
    every_weeks: int | None = Field(
        default=None, description=f"Weekly: how many weeks each period lasts, 1 to {MOST_WEEKS}."
    )
    first_start: date | None = Field(
        default=None, description="Weekly: the day the first period starts (within a year of today)."
    )
    days_to_claim: int = Field(
        ge=0, le=MOST_DAYS_TO_CLAIM, description="The due date is this many days after each period ends."
    )
    reminder_days_before_due: int | None = Field(
        default=None,
        ge=1,
        le=MOST_REMINDER_DAYS,
        description="Remind contacts who have not answered this many days before (default: the project's).",
    )


class NextScheduledPeriod(BaseModel):
    start_date: date
    end_date: date
    due_date: date
    opens_at: datetime = Field(description="Midnight at the start of its first day in the project's time zone.")


class ScheduleView(BaseModel):
    project_id: str
    project_timezone: str
    cadence: str
    day_of_month: int | None
    every_weeks: int | None
    first_start: date | None
    days_to_claim: int
    reminder_days_before_due: int | None
    paused: bool
    paused_because: str | None = Field(description="Why, when the schedule paused itself.")
    set_by: Person = Field(description="Invited By for the periods the schedule opens.")
    set_at: datetime
    described: str = Field(description="The schedule in a sentence.")
    next_period: NextScheduledPeriod | None = Field(description="The next period it opens (none while paused).")
    last_opened_start_date: date | None = Field(description="The start of the period it last opened.")

    @classmethod
    def of(cls, known: ProjectSchedule) -> "ScheduleView":
        schedule, upcoming = known.schedule, known.next_period
        next_period = None
        if upcoming is not None and not schedule.paused:
            next_period = NextScheduledPeriod(
                start_date=upcoming.start_date,
                end_date=upcoming.end_date,
                due_date=upcoming.due_date,
                opens_at=known.next_opens_at,
            )
        return cls(
            project_id=known.project.id,
            project_timezone=known.project.timezone,
            cadence=schedule.cadence,
            day_of_month=schedule.day_of_month,
            every_weeks=schedule.every_weeks,
            first_start=schedule.first_start,
            days_to_claim=schedule.days_to_claim,
            reminder_days_before_due=schedule.reminder_days_before_due,
            paused=schedule.paused,
            paused_because=schedule.paused_because,
            set_by=schedule.set_by,
            set_at=schedule.set_at,
            described=schedule.describe(),
            next_period=next_period,
            last_opened_start_date=known.last_opened,
        )


class ProjectReminders(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reminder_days_before_due: int | None = Field(
        ge=1,
        le=MOST_REMINDER_DAYS,
        description="Remind contacts who have not answered this many days before the due date, for the periods "
        "opened from now on without reminder days of their own; null for no reminder.",
    )


def _schedule_view(known: ProjectSchedule) -> ScheduleView:
    if known.schedule is None:
        raise NotFound(
            f"Project {known.project.id} has no schedule; set one with PUT on this address to open its periods "
            "automatically."
        )
    return ScheduleView.of(known)


@router.get("/projects/{project_id}/schedule", tags=["schedules"])
async def get_schedule(project_id: str, session: CurrentSession, request: Request) -> ScheduleView:
    """The project's schedule and the next period it opens; 404 when the project has none."""
    known = await schedules.project_schedule(
        request.app.state.pool, user_id=session.user_id, project_id=project_id, now=_now(request)
    )
    return _schedule_view(known)


@router.put("/projects/{project_id}/schedule", tags=["schedules"])
async def put_schedule(
    project_id: str, body: ScheduleChange, session: CurrentSession, request: Request
) -> ScheduleView:
    """Set or change the project's schedule (and resume it, if paused). The periods service opens each of its
    periods at midnight at the start of its first day in the project's time zone, as an administrator's opening
    (the open period closes, BillingPeriodOpened is announced, contacts are invited), with you as Invited By.

    Which period opens next: the first of the schedule's that starts today or later and after the project's last
    period ends (one already under way is yours to open). 422 with a sentence for a schedule that cannot be."""
    known = await schedules.change_schedule(
        request.app.state.pool,
        user_id=session.user_id,
        project_id=project_id,
        cadence=body.cadence,
        day_of_month=body.day_of_month,
        every_weeks=body.every_weeks,
        first_start=body.first_start,
        days_to_claim=body.days_to_claim,
        reminder_days_before_due=body.reminder_days_before_due,
        now=_now(request),
    )
    return ScheduleView.of(known)


@router.post("/projects/{project_id}/schedule/pause", tags=["schedules"])
async def pause_schedule(project_id: str, session: CurrentSession, request: Request) -> ScheduleView:
    """Pause the project's schedule: it opens no period until resumed. The open period stays open."""
    known = await schedules.pause_schedule(
        request.app.state.pool, user_id=session.user_id, project_id=project_id, paused=True, now=_now(request)
    )
    return ScheduleView.of(known)


@router.post("/projects/{project_id}/schedule/resume", tags=["schedules"])
async def resume_schedule(project_id: str, session: CurrentSession, request: Request) -> ScheduleView:
    """Resume the project's schedule: it opens its periods that start today or later, each as it starts (none
    missed while it was paused: open those yourself if they are needed)."""
    known = await schedules.pause_schedule(
        request.app.state.pool, user_id=session.user_id, project_id=project_id, paused=False, now=_now(request)
    )
    return ScheduleView.of(known)


@router.get("/projects/{project_id}/reminders", tags=["schedules"])
async def get_project_reminders(project_id: str, session: CurrentSession, request: Request) -> ProjectReminders:
    """The project's default reminder days (rule 9)."""
    known = await schedules.project_schedule(
        request.app.state.pool, user_id=session.user_id, project_id=project_id, now=_now(request)
    )
    return ProjectReminders(reminder_days_before_due=known.reminder_days_before_due)


@router.put("/projects/{project_id}/reminders", tags=["schedules"])
async def put_project_reminders(
    project_id: str, body: ProjectReminders, session: CurrentSession, request: Request
) -> ProjectReminders:
    """Set the project's default reminder days (rule 9): a period opened from now on without its own (by you or by
    the schedule) takes them. Periods already open keep theirs."""
    known = await schedules.change_project_reminder_days(
        request.app.state.pool,
        user_id=session.user_id,
        project_id=project_id,
        reminder_days_before_due=body.reminder_days_before_due,
        now=_now(request),
    )
    return ProjectReminders(reminder_days_before_due=known.reminder_days_before_due)
