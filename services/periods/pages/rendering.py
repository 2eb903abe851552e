"""What the administrator's pages share: their templates, the page around each, message and problem pages, the
way to the login page, CSRF tokens bound to the session and the action, and the notices a redirect asks for."""

from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.pages import form_text, message_page, render, templates_for
from shared.sessions import Session, cookie_session

templates = templates_for(Path(__file__).parent.parent / "templates")
templates.env.globals.update(
    day=lambda day: f"{day.day} {day:%B %Y}" if day else "",
    short_day=lambda day: f"{day.day} {day:%b %Y}" if day else "",
    amount=lambda value: f"{value:,.2f}",
)

# What a redirect asks the next page to confirm; by code, so that a link cannot put words on our pages.
NOTICES = {
    "opened": "The billing period is open. Its invites are being sent; each contact's row shows when theirs goes out.",
    "opened-late": "The billing period is open. Its due date has passed, so no invites are sent: create the "
    "claims on the contacts' behalf from this board.",
    "due-date-changed": "The due date has changed. Contacts see the new date on their invites and claims.",
    "closed": "The billing period is closed. Contacts can no longer create or change claims for it; you can still "
    "create them on their behalf from this board.",
    "resent-contact": "The invite will be emailed to this contact again within a minute, with the same links; "
    "watch its delivery on the board.",
    "resent-commitment": "The invites of this commitment will be emailed again within a minute, with the same "
    "links; watch their delivery on the board.",
    "resent-not-answered": "The invites of everyone who has not answered will be emailed again within a minute, "
    "with the same links; watch their delivery on the board.",
}

STALE_FORM = (
    "The form did not come from this site, or it was open for more than a day. Nothing was changed; "
    "please try again from the page."
)

_PROBLEM_HEADINGS = {
    403: "You cannot open this page",
    404: "This page does not exist",
    409: "This cannot be done now",
    422: "This cannot be done",
}


def page(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    session = cookie_session(request)
    settings = request.app.state.settings
    context = {
        "session": session,
        "claims_url": settings.claims_public_url.rstrip("/"),
        # The claims service's logout form, whose token is bound as its own pages bind it.
        "logout_csrf_token": csrf_token(settings, f"logout:{session.user_id}") if session else "",
        **context,
    }
    return render(templates, request, template, context, status_code)


def message(request: Request, status_code: int, heading: str, text: str, **options) -> HTMLResponse:
    return message_page(templates, request, status_code, heading, text, **options)


def problem_page(request: Request, problem: ProblemForPerson, link: tuple[str, str] | None = None) -> HTMLResponse:
    heading = _PROBLEM_HEADINGS.get(problem.status_code, "This cannot be done")
    return message(request, problem.status_code, heading, str(problem), link=link or ("Your projects", "/"))


def login_redirect(request: Request) -> RedirectResponse:
    """To the claims service's login page, which sends the person back here (to this service's public URL)."""
    settings = request.app.state.settings
    here = settings.periods_public_url.rstrip("/") + request.url.path
    if request.url.query:
        here += f"?{request.url.query}"
    return RedirectResponse(
        f"{settings.claims_public_url.rstrip('/')}/login?{urlencode({'next': here})}", status_code=303
    )


def form_token(request: Request, session: Session, action: str) -> str:
    """A CSRF token for one form: bound to what it acts on (`action`, e.g. "close:<period id>") and to the person."""
    return csrf_token(request.app.state.settings, f"{action}:{session.user_id}")


def form_is_genuine(request: Request, session: Session, form: FormData, action: str) -> bool:
    return csrf_token_is_valid(request.app.state.settings, form_text(form, "csrf_token"), f"{action}:{session.user_id}")


def stale_form(request: Request, link: tuple[str, str]) -> HTMLResponse:
    return message(request, 403, "Please use the form on the page", STALE_FORM, link=link)


def local_time(moment: datetime | None, timezone: str) -> datetime | None:
    return moment.astimezone(ZoneInfo(timezone)) if moment else None
