"""The period board: per commitment, per contact, what happened and why; and what the administrator does from it
(change the due date, close, resend invites, download the board as CSV)."""

import re
from datetime import date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.periods.domain.board import NOT_INVITED_REASONS, Board, board_csv
from services.periods.domain.periods import ends_claiming_today, today_in
from services.periods.pages.rendering import (
    NOTICES,
    form_is_genuine,
    form_token,
    local_time,
    login_redirect,
    page,
    problem_page,
    stale_form,
)
from services.periods.use_cases import board as board_use_cases
from services.periods.use_cases import periods as use_cases
from shared.errors import InvalidRequest, NotAuthenticated, ProblemForPerson
from shared.pages import form_text
from shared.sessions import Session, cookie_session

router = APIRouter(tags=["administrator pages"], include_in_schema=False)

# How often the board's script asks whether anything has changed (shared/static/board.js reads it from the page).
POLL_SECONDS = 5
DELIVERY = {
    "waiting": "Waiting to be sent",
    "sent": "Sent",
    "retrying": "Retrying",
    "failed": "Failed",
    "not_sent": "Not sent",
}


@router.get("/billing-periods/{period_id}", response_class=HTMLResponse)
async def period_board(request: Request, period_id: str, done: str = "") -> Response:
    session = cookie_session(request)
    if session is None:
        return login_redirect(request)
    return await _board_page(request, session, period_id, notice=NOTICES.get(done, ""))


@router.get("/billing-periods/{period_id}/board/version")
async def board_version(request: Request, period_id: str) -> JSONResponse:
    """A value that changes whenever the board would, and when the last event shown on it happened: the board's
    script fetches the board again when the version moves."""
    session = cookie_session(request)
    if session is None:
        raise NotAuthenticated("You are not logged in; log in again and reopen the board.")
    pool, user_id = request.app.state.pool, session.user_id
    version = await board_use_cases.board_version(pool, user_id=user_id, period_id=period_id)
    as_of = await board_use_cases.board_as_of(pool, user_id=user_id, period_id=period_id)
    answer = {"version": version, "as_of": as_of.isoformat() if as_of else None}
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@router.get("/billing-periods/{period_id}/board.csv")
async def board_as_csv(request: Request, period_id: str) -> Response:
    session = cookie_session(request)
    if session is None:
        return login_redirect(request)
    try:
        board = await _board(request, session, period_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    period = board.period
    filename = _safe_filename(f"board-{period.project.id}-{period.start_date.isoformat()}-to-{period.end_date}.csv")
    return Response(
        board_csv(board),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.post("/billing-periods/{period_id}/due-date", response_class=HTMLResponse)
async def change_due_date(request: Request, period_id: str) -> Response:
    """Move the due date; to today or a day already passed only once confirmed (claiming ends, rule 4)."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/billing-periods/{period_id}", status_code=303)
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        period = await use_cases.get_billing_period(pool, user_id=session.user_id, period_id=period_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    form = await request.form()
    typed = form_text(form, "due_date").strip()
    if not form_is_genuine(request, session, form, _due_date_action(period_id)):
        return stale_form(request, _back_to_board(period_id))
    try:
        due_date = date.fromisoformat(typed)
    except ValueError:
        errors = {"due_date": "Enter the due date as a date, such as 2026-12-05."}
        return await _board_page(request, session, period_id, errors=errors, typed_due_date=typed, status_code=422)
    timezone = period.project.timezone
    # A due date of today ends claiming at midnight there; one already passed ends it now.
    ends_claiming = due_date != period.due_date and ends_claiming_today(due_date, timezone, now)
    if ends_claiming and form_text(form, "confirmed") != "yes":
        context = {
            "heading": "Move the due date to a day that ends claiming?",
            "project": period.project,
            "dates": None,
            "due_date": due_date,
            "action": f"/billing-periods/{period_id}/due-date",
            "hidden": {"due_date": typed},
            "csrf_token": form_token(request, session, _due_date_action(period_id)),
            "button": "Move the due date",
            "back": _back_to_board(period_id),
            "today": today_in(timezone, now),
        }
        return page(request, "confirm_due_date.html", context)
    try:
        await use_cases.change_due_date(pool, user_id=session.user_id, period_id=period_id, due_date=due_date, now=now)
    except ProblemForPerson as problem:
        if getattr(problem, "field", None) == "due_date" or isinstance(problem, InvalidRequest):
            errors = {"due_date": str(problem)}
            return await _board_page(
                request, session, period_id, errors=errors, typed_due_date=typed, status_code=problem.status_code
            )
        return await _board_page(request, session, period_id, problem=str(problem), status_code=problem.status_code)
    return RedirectResponse(f"/billing-periods/{period_id}?done=due-date-changed", status_code=303)


@router.post("/billing-periods/{period_id}/close", response_class=HTMLResponse)
async def close_billing_period(request: Request, period_id: str) -> Response:
    """Close the period, once confirmed: contacts can no longer create or change claims for it (rule 15)."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/billing-periods/{period_id}", status_code=303)
    pool, now = request.app.state.pool, request.app.state.clock()
    try:
        period = await use_cases.get_billing_period(pool, user_id=session.user_id, period_id=period_id)
    except ProblemForPerson as problem:
        return problem_page(request, problem)
    form = await request.form()
    if not form_is_genuine(request, session, form, _close_action(period_id)):
        return stale_form(request, _back_to_board(period_id))
    if form_text(form, "confirmed") != "yes":
        context = {
            "period": period,
            "csrf_token": form_token(request, session, _close_action(period_id)),
            "back": _back_to_board(period_id),
        }
        return page(request, "confirm_close.html", context)
    try:
        await use_cases.close_billing_period(pool, user_id=session.user_id, period_id=period_id, now=now)
    except ProblemForPerson as problem:
        return await _board_page(request, session, period_id, problem=str(problem), status_code=problem.status_code)
    return RedirectResponse(f"/billing-periods/{period_id}?done=closed", status_code=303)


@router.post("/billing-periods/{period_id}/resend", response_class=HTMLResponse)
async def resend_invites(request: Request, period_id: str) -> Response:
    """Resend to one contact, to one commitment, or to everyone who has not answered (rule 6)."""
    session = cookie_session(request)
    if session is None:
        return RedirectResponse(f"/billing-periods/{period_id}", status_code=303)
    form = await request.form()
    if not form_is_genuine(request, session, form, _resend_action(period_id)):
        return stale_form(request, _back_to_board(period_id))
    commitment_id, contact_user_id = form_text(form, "commitment_id"), form_text(form, "contact_user_id")
    to = {"period_id": period_id}
    if contact_user_id and commitment_id:
        to |= {"commitment_ids": [commitment_id], "contact_user_ids": [contact_user_id]}
        done = "resent-contact"
    elif commitment_id:
        to |= {"commitment_ids": [commitment_id]}
        done = "resent-commitment"
    elif form_text(form, "only_not_answered") == "yes":
        to |= {"commitment_ids": None, "only_not_answered": True}
        done = "resent-not-answered"
    else:
        return problem_page(
            request,
            InvalidRequest("The form named no one to send the invites to; choose a button on the board."),
            link=_back_to_board(period_id),
        )
    try:
        await use_cases.resend_invites(
            request.app.state.pool, user_id=session.user_id, now=request.app.state.clock(), **to
        )
    except ProblemForPerson as problem:
        return problem_page(request, problem, link=_back_to_board(period_id))
    return RedirectResponse(f"/billing-periods/{period_id}?done={done}", status_code=303)


# --- How the pages are put together ---


def _due_date_action(period_id: str) -> str:
    return f"due-date:{period_id}"


def _close_action(period_id: str) -> str:
    return f"close:{period_id}"


def _resend_action(period_id: str) -> str:
    return f"resend:{period_id}"


def _back_to_board(period_id: str) -> tuple[str, str]:
    return ("Back to the board", f"/billing-periods/{period_id}")


async def _board(request: Request, session: Session, period_id: str) -> Board:
    return await board_use_cases.board_of_period(
        request.app.state.pool, user_id=session.user_id, period_id=period_id, now=request.app.state.clock()
    )


async def _board_page(
    request: Request,
    session: Session,
    period_id: str,
    *,
    notice: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    typed_due_date: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        # The version first: a change while the board is drawn shows at the next poll rather than never.
        version = await board_use_cases.board_version(
            request.app.state.pool, user_id=session.user_id, period_id=period_id
        )
        board = await _board(request, session, period_id)
    except ProblemForPerson as refusal:
        return problem_page(request, refusal)
    period, now = board.period, request.app.state.clock()
    timezone = period.project.timezone
    claims_url = request.app.state.settings.claims_public_url.rstrip("/")
    context = {
        "board": board,
        "period": period,
        "timezone": timezone,
        "is_open": period.status == "open",
        "may_resend": period.status == "open" and not period.due_date_has_passed(now),
        "due_passed": period.due_date_has_passed(now),
        "as_of": local_time(board.as_of, timezone),
        "as_of_age": _age(board.as_of, now),
        "when": lambda moment: local_time(moment, timezone).strftime("%d %b %Y %H:%M") if moment else "",
        "notice": notice,
        "problem": problem,
        "errors": errors or {},
        "due_date_value": typed_due_date if typed_due_date is not None else period.due_date.isoformat(),
        "due_date_token": form_token(request, session, _due_date_action(period_id)),
        "close_token": form_token(request, session, _close_action(period_id)),
        "resend_token": form_token(request, session, _resend_action(period_id)),
        "not_invited_reasons": NOT_INVITED_REASONS,
        "delivery_names": DELIVERY,
        "poll_seconds": POLL_SECONDS,
        "version": version,
        "claim_url": lambda claim_id: f"{claims_url}/claims/{claim_id}",
        "late_request_url": lambda request_id: f"{claims_url}/late-claim-requests/{request_id}",
        "review_url": f"{claims_url}/billing-periods/{period.id}/review",
        "on_behalf_url": lambda commitment_id, contact_user_id: (
            f"{claims_url}/claims/on-behalf?"
            + urlencode({"period": period.id, "commitment": commitment_id, "contact": contact_user_id})
        ),
    }
    return page(request, "board.html", context, status_code)


def _age(as_of: datetime | None, now: datetime) -> str:
    if as_of is None:
        return ""
    seconds = max(0, int((now - as_of).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _safe_filename(name: str) -> str:
    """Letters, digits, dots and dashes only: a project id from the ERP cannot break the header."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", name)[:150]
