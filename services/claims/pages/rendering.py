"""What the claims service's pages share: their templates, the page around each of them, message pages, and the
notices a redirect asks for."""

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.claims.domain.claims import STATUS_NAMES
from shared.csrf import csrf_token
from shared.pages import message_page, render, templates_for
from shared.sessions import Session, cookie_session

templates = templates_for(Path(__file__).parent.parent / "templates")
templates.env.globals.update(
    day=lambda day: f"{day.day} {day:%B %Y}" if day else "",
    amount=lambda value: f"{value:,.2f}",
    plain=lambda value: "" if value == 0 else f"{value:.2f}",
    cents=lambda value: int(value * 100),  # for the page's script (shared/static/claim.js), which counts in cents
    status_names=STATUS_NAMES,
)

# What a redirect asks the next page to confirm; by code, so that a link cannot put words on our pages.
NOTICES = {
    "logged-out": "You have logged out.",
    "password-set": "Your password is set.",
    "saved": "Your draft has been saved.",
    "submitted": "Your progress claim has been submitted.",
    "approved": "The progress claim is approved; its contact is emailed.",
    "sent-back": "The progress claim is sent back to revise; its contact is emailed.",
    "late-asked": "Your request to claim late is sent; you are emailed when it is answered.",
}

STALE_FORM = (
    "The form did not come from this site, or it was open for more than a day. Nothing was changed; "
    "please try again from the page."
)


def page(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    session = cookie_session(request)
    settings = request.app.state.settings
    context = {
        "session": session,
        "logout_csrf_token": csrf_token(settings, logout_csrf(session)) if session else "",
        **context,
    }
    return render(templates, request, template, context, status_code)


def message(request: Request, status_code: int, heading: str, text: str, **options) -> HTMLResponse:
    return message_page(templates, request, status_code, heading, text, **options)


def logout_csrf(session: Session) -> str:
    """What the CSRF token of the logout form (on every page once logged in) is bound to."""
    return f"logout:{session.user_id}"
