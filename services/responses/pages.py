"""The page behind the emailed link: `GET` shows the invite and changes nothing; the answer is a `POST`."""

from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.responses import use_cases
from services.responses.domain import (
    DECLINE_REASONS,
    OTHER_TEXT_LIMIT,
    InviteToAnswer,
    ReasonNotAccepted,
    decline_reason,
)
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.invite_links import read_invite_token
from shared.pages import form_text, message_page, render, templates_for

router = APIRouter(tags=["invite pages"])
templates = templates_for(Path(__file__).parent / "templates")

PREPARING_SECONDS = 5


@router.get("/invites/{token}", response_class=HTMLResponse)
async def show_invite(request: Request, token: str, answer: str | None = None, recorded: str | None = None):
    invite_id = _invite_id(request, token)
    if invite_id is None:
        return _invalid_link(request)
    invite = await use_cases.show_invite(request.app.state.pool, invite_id)
    if invite is None:
        return _preparing(request)
    preselected = answer if answer in ("yes", "no") else None
    return _invite_page(request, token, invite, preselected=preselected, recorded=recorded)


@router.post("/invites/{token}", response_class=HTMLResponse)
async def answer_invite(request: Request, token: str) -> Response:
    invite_id = _invite_id(request, token)
    if invite_id is None:
        return _invalid_link(request)
    form = await request.form()
    answer = form_text(form, "answer")
    settings = request.app.state.settings
    if not csrf_token_is_valid(settings, form_text(form, "csrf_token"), invite_id):
        return _message(
            request,
            403,
            "Please answer from the invite page",
            "Your answer was not recorded because the form did not come from your invite page, or it was "
            "open for more than a day. Open the link in your email again and choose Yes or No there.",
        )
    if answer not in ("yes", "no"):
        return _message(
            request, 400, "Please choose Yes or No", "Open the link in your email again and choose Yes or No."
        )
    # The reason belongs to a No only (rule 18a); a Yes ignores whatever the No's fields held.
    entered = {"code": form_text(form, "reason"), "text": form_text(form, "reason_text")}
    try:
        reason = decline_reason(entered["code"], entered["text"]) if answer == "no" else None
    except ReasonNotAccepted as refused:
        invite = await use_cases.show_invite(request.app.state.pool, invite_id)
        if invite is None:
            return _preparing(request, status_code=409)
        reason_problem = {"field": refused.field, "message": str(refused)}
        return _invite_page(
            request, token, invite, entered=entered, reason_problem=reason_problem, status_code=refused.status_code
        )
    try:
        invite = await use_cases.answer_invite(
            request.app.state.pool, invite_id, answer, request.app.state.clock(), reason
        )
    except ProblemForPerson as problem:
        invite = await use_cases.show_invite(request.app.state.pool, invite_id)
        return _invite_page(request, token, invite, problem=str(problem), status_code=problem.status_code)
    if invite is None:
        return _preparing(request, status_code=409)
    if answer == "yes":
        return RedirectResponse(_claim_url(request, invite), status_code=303)
    return RedirectResponse(f"/invites/{token}?recorded=no", status_code=303)


def _invite_id(request: Request, token: str) -> str | None:
    try:
        return read_invite_token(request.app.state.settings, token)
    except PermissionError:
        return None


def _invite_page(
    request: Request,
    token: str,
    invite: InviteToAnswer,
    *,
    preselected: str | None = None,
    recorded: str | None = None,
    problem: str | None = None,
    entered: dict | None = None,
    reason_problem: dict | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = request.app.state.clock()
    details = invite.invite
    given = invite.decline_reason
    if entered is None:
        entered = {"code": given.code if given else "", "text": (given.text or "") if given else ""}
    context = {
        "invite": details,
        "answer": invite.answer,
        "billing_period": f"{_day(details.start_date)} to {_day(details.end_date)}",
        "due_date": _day(details.due_date),
        "due_passed": invite.due_date_has_passed(now),
        "closed": invite.period_closed,
        "can_say_yes": invite.may_say_yes(now),
        "preselected": preselected,
        "recorded": recorded if invite.answer == "no" else None,
        "problem": problem,
        "decline_reasons": DECLINE_REASONS,
        "reason_given": given,
        "reason_limit": OTHER_TEXT_LIMIT,
        "entered": entered,
        "reason_problem": reason_problem,
        "action": f"/invites/{token}",
        "csrf_token": csrf_token(request.app.state.settings, details.invite_id),
        "claim_url": _claim_url(request, invite),
    }
    return render(templates, request, "invite.html", context, status_code)


def _claim_url(request: Request, invite: InviteToAnswer) -> str:
    base = request.app.state.settings.claims_public_url.rstrip("/")
    query = {"commitment": invite.invite.commitment.commitment_id, "period": invite.invite.period_id}
    return f"{base}/claims/new?{urlencode(query)}"


def _invalid_link(request: Request) -> HTMLResponse:
    return _message(
        request,
        400,
        "This invite link is not valid",
        "The link may have been changed or cut short, for example when it was copied. Open it again from your "
        "email; if it still does not work, ask the person who invited you to send the invite again.",
    )


def _preparing(request: Request, status_code: int = 202) -> HTMLResponse:
    return _message(
        request,
        status_code,
        "Your invite is being prepared",
        f"Your invite has only just been sent and is still being set up. This page will refresh in "
        f"{PREPARING_SECONDS} seconds.",
        refresh_seconds=PREPARING_SECONDS,
    )


def _message(request: Request, status_code: int, heading: str, message: str, refresh_seconds: int = 0):
    return message_page(templates, request, status_code, heading, message, refresh_seconds=refresh_seconds)


def _day(day) -> str:
    return f"{day.day} {day:%B %Y}"
