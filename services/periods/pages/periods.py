"""The administrator's projects, and a project's billing periods with the form that opens the next one."""

import calendar
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.periods.domain.periods import MOST_REMINDER_DAYS, due_date_passed, today_in
from services.periods.domain.schedules import MOST_DAYS_TO_CLAIM, MOST_WEEKS
from services.periods.pages.rendering import (
    form_is_genuine,
    form_token,
    login_redirect,
    page,
    problem_page,
    stale_form,
)
from services.periods.use_cases import periods as use_cases
from services.periods.use_cases import projects, schedules
from services.periods.use_cases.projects import AdministeredProject
from services.periods.use_cases.schedules import ProjectSchedule
from shared.errors import ProblemForPerson
from shared.pages import form_text
from shared.sessions import Session, cookie_session

router = APIRouter(tags=["administrator pages"], include_in_schema=False)

# The due date the form suggests: this many days after the period ends, time for contacts to claim the month.
DAYS_TO_CLAIM = 5
DATE_FIELDS = ("start_date", "end_date", "due_date")
_FIELD_NAMES = {"start_date": "start date", "end_date": "end date", "due_date": "due date"}
SCHEDULE_FIELDS = ("cadence", "day_of_month", "every_weeks", "first_start", "days_to_claim", "schedule_reminder_days")
# What a redirect to the project's page asks it to confirm; by code, so that a link cannot put words on the page.
PROJECT_NOTICES = {
    "schedule-saved": "The schedule is saved. It opens each of its periods as it starts; the next is shown below.",
    "schedule-paused": "The schedule is paused: it opens no period until you resume it.",
    "schedule-resumed": "The schedule is running again. It opens its periods that start from today on.",
    "reminders-saved": "The project's reminder days are saved, for the periods opened from now on.",
}


@router.get("/", response_class=HTMLResponse)
async def my_projects(request: Request) -> Response:
    session = cookie_session(request)
    if session is None:
        return login_redirect(request)
    try:
        administered = await projects.projects_administered(request.app.state.pool, user_id=session.user_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem, link=("My invites and claims", _claims_page(request)))
    return page(request, "projects.html", {"projects": administered})


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_periods(
    request: Request,
    project_id: str,
    start_date: str = "",
    end_date: str = "",
    due_date: str = "",
    reminder_days: str = "",
    done: str = "",
) -> Response:
    """The project's periods and the form for the next one, its schedule and its reminder days; the query carries
    values typed before (a way back from the confirmation step), and opening the page changes nothing."""
    session = cookie_session(request)
    if session is None:
        return login_redirect(request)
    try:
        administered = await projects.project_administered(
            request.app.state.pool, user_id=session.user_id, project_id=project_id
        )
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    typed = {"start_date": start_date, "end_date": end_date, "due_date": due_date, "reminder_days": reminder_days}
    return await _project_page(
        request,
        session,
        administered,
        typed={name: value for name, value in typed.items() if value},
        notice=PROJECT_NOTICES.get(done, ""),
    )


@router.post("/projects/{project_id}/billing-periods", response_class=HTMLResponse)
async def open_billing_period(request: Request, project_id: str) -> Response:
    """Open a billing period; a due date already passed is asked about first (no invites go out, rule 7)."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/projects/{project_id}", status_code=303)
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        administered = await projects.project_administered(pool, user_id=session.user_id, project_id=project_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    form = await request.form()
    typed = {name: form_text(form, name).strip() for name in (*DATE_FIELDS, "reminder_days")}
    if not form_is_genuine(request, session, form, _open_action(project_id)):
        return stale_form(request, ("Open the project's page", f"/projects/{project_id}"))
    dates, reminder_days, errors = _read_period_form(typed)
    if errors:
        return await _project_page(request, session, administered, typed=typed, errors=errors, status_code=422)
    project = administered.project
    due_passed = due_date_passed(dates["due_date"], project.timezone, now)
    if due_passed and form_text(form, "confirmed") != "yes":
        back = f"/projects/{project_id}?" + urlencode({name: value for name, value in typed.items() if value})
        context = {
            "heading": "Open a billing period whose due date has passed?",
            "project": project,
            "dates": dates,
            "due_date": dates["due_date"],
            "action": f"/projects/{project_id}/billing-periods",
            "hidden": typed,
            "csrf_token": form_token(request, session, _open_action(project_id)),
            "button": "Open it anyway",
            "back": ("No, change the dates", back),
            "today": today_in(project.timezone, now),
        }
        return page(request, "confirm_due_date.html", context)
    try:
        period = await use_cases.open_billing_period(
            pool,
            user_id=session.user_id,
            project_id=project_id,
            start_date=dates["start_date"],
            end_date=dates["end_date"],
            due_date=dates["due_date"],
            reminder_days_before_due=reminder_days,
            now=now,
        )
    except ProblemForPerson as problem:
        field = getattr(problem, "field", None)
        if field in DATE_FIELDS:
            errors = {field: str(problem)}
            return await _project_page(
                request, session, administered, typed=typed, errors=errors, status_code=problem.status_code
            )
        return await _project_page(
            request, session, administered, typed=typed, problem=str(problem), status_code=problem.status_code
        )
    done = "opened-late" if due_passed else "opened"
    return RedirectResponse(f"/billing-periods/{period.id}?done={done}", status_code=303)


@router.post("/projects/{project_id}/schedule", response_class=HTMLResponse)
async def save_schedule(request: Request, project_id: str) -> Response:
    """Set or change the project's schedule (rule 4a); the problems of the form next to their fields."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/projects/{project_id}", status_code=303)
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        administered = await projects.project_administered(pool, user_id=session.user_id, project_id=project_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    form = await request.form()
    typed = {name: form_text(form, name).strip() for name in SCHEDULE_FIELDS}
    if not form_is_genuine(request, session, form, _schedule_action(project_id)):
        return stale_form(request, ("Open the project's page", f"/projects/{project_id}"))
    fields, errors = _read_schedule_form(typed)
    if not errors:
        try:
            await schedules.change_schedule(pool, user_id=session.user_id, project_id=project_id, now=now, **fields)
        except ProblemForPerson as problem:
            field = _SCHEDULE_FORM_FIELD.get(getattr(problem, "field", ""), "")
            if not field:
                return await _project_page(
                    request, session, administered, typed=typed, problem=str(problem), status_code=problem.status_code
                )
            errors = {field: str(problem)}
    if errors:
        return await _project_page(request, session, administered, typed=typed, errors=errors, status_code=422)
    return RedirectResponse(f"/projects/{project_id}?done=schedule-saved#schedule", status_code=303)


@router.post("/projects/{project_id}/schedule/pause", response_class=HTMLResponse)
async def pause_schedule(request: Request, project_id: str) -> Response:
    return await _pause_or_resume(request, project_id, paused=True)


@router.post("/projects/{project_id}/schedule/resume", response_class=HTMLResponse)
async def resume_schedule(request: Request, project_id: str) -> Response:
    return await _pause_or_resume(request, project_id, paused=False)


@router.post("/projects/{project_id}/reminders", response_class=HTMLResponse)
async def save_reminder_days(request: Request, project_id: str) -> Response:
    """The project's default reminder days (rule 9), for periods opened from now on without their own."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/projects/{project_id}", status_code=303)
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        administered = await projects.project_administered(pool, user_id=session.user_id, project_id=project_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    form = await request.form()
    typed = {"project_reminder_days": form_text(form, "project_reminder_days").strip()}
    if not form_is_genuine(request, session, form, _reminders_action(project_id)):
        return stale_form(request, ("Open the project's page", f"/projects/{project_id}"))
    days, error = _read_reminder_days(typed["project_reminder_days"], otherwise="for no reminder")
    if error:
        errors = {"project_reminder_days": error}
        return await _project_page(request, session, administered, typed=typed, errors=errors, status_code=422)
    await schedules.change_project_reminder_days(
        pool, user_id=session.user_id, project_id=project_id, reminder_days_before_due=days, now=now
    )
    return RedirectResponse(f"/projects/{project_id}?done=reminders-saved#reminders", status_code=303)


# --- How the pages are put together ---


async def _pause_or_resume(request: Request, project_id: str, *, paused: bool) -> Response:
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/projects/{project_id}", status_code=303)
    form = await request.form()
    if not form_is_genuine(request, session, form, _schedule_action(project_id)):
        return stale_form(request, ("Open the project's page", f"/projects/{project_id}"))
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        await schedules.pause_schedule(pool, user_id=session.user_id, project_id=project_id, paused=paused, now=now)
    except ProblemForPerson as problem:
        return problem_page(request, problem, link=("Open the project's page", f"/projects/{project_id}"))
    done = "schedule-paused" if paused else "schedule-resumed"
    return RedirectResponse(f"/projects/{project_id}?done={done}#schedule", status_code=303)


def _schedule_action(project_id: str) -> str:
    return f"schedule:{project_id}"


def _reminders_action(project_id: str) -> str:
    return f"reminders:{project_id}"


def _open_action(project_id: str) -> str:
    return f"open-period:{project_id}"


async def _project_page(
    request: Request,
    session: Session,
    administered: AdministeredProject,
    *,
    typed: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str = "",
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The project's page; `typed` and `errors` are those of whichever of its forms was sent (their fields' names
    differ), the other forms showing what is saved."""
    project = administered.project
    now = request.app.state.clock()
    known = await schedules.project_schedule(
        request.app.state.pool, user_id=session.user_id, project_id=project.id, now=now
    )
    suggested = suggested_dates(administered, today_in(project.timezone, now))
    values = (
        {name: value.isoformat() for name, value in suggested.items()}
        | {"reminder_days": ""}
        | _schedule_values(known, administered, today_in(project.timezone, now))
        | typed
    )
    context = {
        "administered": administered,
        "project": project,
        "known": known,
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "notice": notice,
        "csrf_token": form_token(request, session, _open_action(project.id)),
        "schedule_csrf_token": form_token(request, session, _schedule_action(project.id)),
        "reminders_csrf_token": form_token(request, session, _reminders_action(project.id)),
        "days_to_claim": DAYS_TO_CLAIM,
        "most_weeks": MOST_WEEKS,
        "most_days_to_claim": MOST_DAYS_TO_CLAIM,
        "most_reminder_days": MOST_REMINDER_DAYS,
        "opens_now": known.next_opens_at is not None and known.next_opens_at <= now,
    }
    return page(request, "project.html", context, status_code)


def _schedule_values(known: ProjectSchedule, administered: AdministeredProject, today: date) -> dict[str, str]:
    """The schedule form's fields: the saved schedule's, or a first suggestion (monthly from the 1st)."""
    schedule = known.schedule
    next_start = max((period.end_date for period in administered.periods), default=today - timedelta(days=1))
    values = {
        "cadence": "monthly",
        "day_of_month": "1",
        "every_weeks": "2",
        "first_start": max(next_start + timedelta(days=1), today).isoformat(),
        "days_to_claim": str(DAYS_TO_CLAIM),
        "schedule_reminder_days": "",
        "project_reminder_days": _text(known.reminder_days_before_due),
    }
    if schedule is not None:
        values |= {
            "cadence": schedule.cadence,
            "day_of_month": _text(schedule.day_of_month) or values["day_of_month"],
            "every_weeks": _text(schedule.every_weeks) or values["every_weeks"],
            "first_start": schedule.first_start.isoformat() if schedule.first_start else values["first_start"],
            "days_to_claim": str(schedule.days_to_claim),
            "schedule_reminder_days": _text(schedule.reminder_days_before_due),
        }
    return values


def _text(number: int | None) -> str:
    return "" if number is None else str(number)


# The domain's names of the schedule's fields, and the form's.
_SCHEDULE_FORM_FIELD = {
    "cadence": "cadence",
    "day_of_month": "day_of_month",
    "every_weeks": "every_weeks",
    "first_start": "first_start",
    "days_to_claim": "days_to_claim",
    "reminder_days_before_due": "schedule_reminder_days",
}


def _read_schedule_form(typed: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The schedule form's values for the use case, and a sentence for each field that cannot be read. Only the
    fields of the chosen cadence are read: the other's stay as typed, unused."""
    errors = {}
    cadence = typed["cadence"]
    fields = {"cadence": cadence, "day_of_month": None, "every_weeks": None, "first_start": None}
    whole = {
        "day_of_month": (cadence == "monthly", 1, 31, "Enter the day of the month periods start on, from 1 to 31."),
        "every_weeks": (
            cadence == "weekly",
            1,
            MOST_WEEKS,
            f"Enter how many weeks each period lasts, 1 to {MOST_WEEKS}.",
        ),
        "days_to_claim": (
            True,
            0,
            MOST_DAYS_TO_CLAIM,
            f"Enter the days from a period's end to its due date, from 0 to {MOST_DAYS_TO_CLAIM}.",
        ),
    }
    for name, (needed, least, most, sentence) in whole.items():
        if needed:
            number = _whole_number(typed[name], least, most)
            if number is None:
                errors[name] = sentence
            fields[name] = number
    if cadence == "weekly":
        try:
            fields["first_start"] = date.fromisoformat(typed["first_start"])
        except ValueError:
            errors["first_start"] = "Enter the day the first period starts as a date, such as 2026-12-07."
    if cadence not in ("monthly", "weekly"):
        errors["cadence"] = "Choose how often periods start: monthly, or every few weeks."
    fields["reminder_days_before_due"], error = _read_reminder_days(
        typed["schedule_reminder_days"], otherwise="for the project's reminder days"
    )
    if error:
        errors["schedule_reminder_days"] = error
    return fields, errors


def _read_reminder_days(text: str, otherwise: str) -> tuple[int | None, str]:
    """Reminder days as typed (empty: none), or a sentence saying what to type."""
    if not text:
        return None, ""
    number = _whole_number(text, 1, MOST_REMINDER_DAYS)
    if number is None:
        return None, f"Enter a whole number of days from 1 to {MOST_REMINDER_DAYS}, or leave it empty {otherwise}."
    return number, ""


def _whole_number(text: str, least: int, most: int) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and least <= int(text) <= most else None


def suggested_dates(administered: AdministeredProject, today: date) -> dict[str, date]:
    """The month after the project's last period (none yet: this month), due DAYS_TO_CLAIM days after it ends."""
    if administered.periods:
        start = max(period.end_date for period in administered.periods) + timedelta(days=1)
    else:
        start = today.replace(day=1)
    end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    return {"start_date": start, "end_date": end, "due_date": end + timedelta(days=DAYS_TO_CLAIM)}


def _read_period_form(typed: dict[str, str]) -> tuple[dict[str, date], int | None, dict[str, str]]:
    """The form's dates and reminder days, and a sentence for each field that cannot be read."""
    dates, errors = {}, {}
    for name in DATE_FIELDS:
        try:
            dates[name] = date.fromisoformat(typed[name])
        except ValueError:
            errors[name] = f"Enter the {_FIELD_NAMES[name]} as a date, such as 2026-12-01."
    reminder_days, error = _read_reminder_days(typed["reminder_days"], otherwise="for the project's reminder days")
    if error:
        errors["reminder_days"] = error
    return dates, reminder_days, errors


def _claims_page(request: Request) -> str:
    return request.app.state.settings.claims_public_url.rstrip("/") + "/claims"
