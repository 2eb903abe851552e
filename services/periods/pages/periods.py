"""The administrator's projects, and a project's billing periods with the form that opens the next one."""

import calendar
from datetime import date, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.periods.domain.periods import MOST_REMINDER_DAYS, due_date_passed, today_in
from services.periods.pages.rendering import (
    form_is_genuine,
    form_token,
    login_redirect,
    page,
    problem_page,
    stale_form,
)
from services.periods.use_cases import periods as use_cases
from services.periods.use_cases import projects
from services.periods.use_cases.projects import AdministeredProject
from shared.errors import ProblemForPerson
from shared.pages import form_text
from shared.sessions import Session, cookie_session

router = APIRouter(tags=["administrator pages"], include_in_schema=False)

# The due date the form suggests: this many days after the period ends, time for contacts to claim the month.
DAYS_TO_CLAIM = 5
DATE_FIELDS = ("start_date", "end_date", "due_date")
_FIELD_NAMES = {"start_date": "start date", "end_date": "end date", "due_date": "due date"}


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
) -> Response:
    """The project's periods and the form for the next one; the query carries values typed before (a way back
    from the confirmation step), and opening the page changes nothing."""
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
    return _project_page(request, session, administered, typed={name: value for name, value in typed.items() if value})


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
        return _project_page(request, session, administered, typed=typed, errors=errors, status_code=422)
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
            return _project_page(
                request, session, administered, typed=typed, errors=errors, status_code=problem.status_code
            )
        return _project_page(
            request, session, administered, typed=typed, problem=str(problem), status_code=problem.status_code
        )
    done = "opened-late" if due_passed else "opened"
    return RedirectResponse(f"/billing-periods/{period.id}?done={done}", status_code=303)


# --- How the pages are put together ---


def _open_action(project_id: str) -> str:
    return f"open-period:{project_id}"


def _project_page(
    request: Request,
    session: Session,
    administered: AdministeredProject,
    *,
    typed: dict[str, str],
    errors: dict[str, str] | None = None,
    problem: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    project = administered.project
    suggested = suggested_dates(administered, today_in(project.timezone, request.app.state.clock()))
    values = {name: value.isoformat() for name, value in suggested.items()} | {"reminder_days": ""} | typed
    context = {
        "administered": administered,
        "project": project,
        "values": values,
        "errors": errors or {},
        "problem": problem,
        "csrf_token": form_token(request, session, _open_action(project.id)),
        "days_to_claim": DAYS_TO_CLAIM,
    }
    return page(request, "project.html", context, status_code)


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
    reminder_days = None
    if typed["reminder_days"]:
        text = typed["reminder_days"]
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MOST_REMINDER_DAYS):
            errors["reminder_days"] = (
                f"Enter a whole number of days from 1 to {MOST_REMINDER_DAYS}, or leave it empty for no reminder."
            )
        else:
            reminder_days = int(text)
    return dates, reminder_days, errors


def _claims_page(request: Request) -> str:
    return request.app.state.settings.claims_public_url.rstrip("/") + "/claims"
