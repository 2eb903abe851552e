"""The claims service's pages: log in and out, set a password by emailed link, "My invites and claims", and
the progress claim itself. Every form carries a CSRF token; the session is the signed cookie every service
reads."""

import secrets
import uuid
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.claims import accounts, actions, repository
from services.claims.actions import ClaimView, FieldErrors, NotArrivedYet
from services.claims.domain import STATUS_NAMES
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.invite_links import invite_url
from shared.pages import message_page, render, templates_for
from shared.password_links import PasswordLink, read_password_link_token
from shared.service import client_address
from shared.sessions import SESSION_COOKIE, Session, cookie_session, issue_session_token, set_session_cookie

router = APIRouter(tags=["claim pages"], include_in_schema=False)
templates = templates_for(Path(__file__).parent / "templates")
templates.env.globals.update(
    day=lambda day: f"{day.day} {day:%B %Y}" if day else "",
    amount=lambda value: f"{value:,.2f}",
    plain=lambda value: "" if value == 0 else f"{value:.2f}",
    status_names=STATUS_NAMES,
)

PREPARING_SECONDS = 5
PREPARING_ATTEMPTS = 24  # two minutes of waiting for what the link names before saying it is not known
# What a redirect asks the next page to confirm; by code, so that a link cannot put words on our pages.
NOTICES = {
    "logged-out": "You have logged out.",
    "password-set": "Your password is set.",
    "saved": "Your draft has been saved.",
    "submitted": "Your progress claim has been submitted.",
}
# Forms shown before anyone is logged in are bound to a random value in a cookie of this browser, so that
# another site cannot post them with a token it fetched for itself (and log a person in as someone else).
_BROWSER_COOKIE = "itb_browser"
_LOGIN_FORM = "login"
_PASSWORD_REQUEST_FORM = "password-request"


# --- Logging in and out ---


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/claims", email: str = "", done: str = ""):
    return _login_form(request, next, email, notice=NOTICES.get(done, ""))


@router.post("/login", response_class=HTMLResponse)
async def log_in(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/claims"),
) -> Response:
    settings = request.app.state.settings
    if not csrf_token_is_valid(settings, csrf_token, _anonymous_form(request, _LOGIN_FORM)):
        return _login_form(request, next, email, problem=_STALE_FORM, status_code=403)
    try:
        person = await accounts.log_in(
            request.app.state.pool, email, password, client_address(request), request.app.state.clock()
        )
    except ProblemForPerson as problem:
        return _login_form(request, next, email, problem=str(problem), status_code=problem.status_code)
    response = RedirectResponse(_safe_next(next), status_code=303)
    token = issue_session_token(settings, person.id, person.email)
    set_session_cookie(response, settings, token, settings.claims_public_url)
    return response


@router.post("/logout")
async def log_out(request: Request, csrf_token: str = Form("")) -> Response:
    session = cookie_session(request)
    if session is not None and not csrf_token_is_valid(request.app.state.settings, csrf_token, _logout_csrf(session)):
        return _message(request, 403, "Please log out from the page", _STALE_FORM)
    response = RedirectResponse("/login?done=logged-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- Setting a password through an emailed link ---


@router.get("/password/new", response_class=HTMLResponse)
async def password_request_page(request: Request, email: str = ""):
    return _password_request_form(request, email)


@router.post("/password/new", response_class=HTMLResponse)
async def request_password_link(request: Request, email: str = Form(""), csrf_token: str = Form("")) -> Response:
    if not csrf_token_is_valid(
        request.app.state.settings, csrf_token, _anonymous_form(request, _PASSWORD_REQUEST_FORM)
    ):
        return _password_request_form(request, email, problem=_STALE_FORM, status_code=403)
    if "@" not in email:
        return _password_request_form(request, email, problem="Enter your email address.", status_code=422)
    try:
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            await accounts.request_password_link(connection, email, client_address(request), request.app.state.clock())
    except ProblemForPerson as problem:
        return _password_request_form(request, email, problem=str(problem), status_code=problem.status_code)
    # The same answer whether or not the email is known: the page does not reveal who has an account.
    return _message(
        request,
        200,
        "Check your email",
        f"If {email} belongs to someone on a project, we have sent a link to set a password. It works once, "
        "within an hour. If nothing arrives, check the address with the contractor who invited you.",
        link=("Back to log in", "/login"),
    )


@router.get("/password/{token}", response_class=HTMLResponse)
async def password_page(request: Request, token: str):
    link, problem = await _password_request(request, token)
    if problem is not None:
        return problem
    return _password_form(request, token, link)


@router.post("/password/{token}", response_class=HTMLResponse)
async def set_password(
    request: Request,
    token: str,
    password: str = Form(""),
    confirmation: str = Form(""),
    csrf_token: str = Form(""),
) -> Response:
    link, problem = await _password_request(request, token)
    if problem is not None:
        return problem
    settings = request.app.state.settings
    if not csrf_token_is_valid(settings, csrf_token, f"password:{link.request_id}"):
        return _password_form(request, token, link, problem=_STALE_FORM, status_code=403)
    if password != confirmation:
        return _password_form(request, token, link, problem="The two passwords differ.", status_code=422)
    try:
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            person = await accounts.use_password_link(connection, link, password, request.app.state.clock())
    except ProblemForPerson as problem:
        return _password_form(request, token, link, problem=str(problem), status_code=problem.status_code)
    response = RedirectResponse("/claims?done=password-set", status_code=303)
    set_session_cookie(
        response, settings, issue_session_token(settings, person.id, person.email), settings.claims_public_url
    )
    return response


# --- My invites and claims ---


@router.get("/claims", response_class=HTMLResponse)
async def my_invites_and_claims(request: Request, done: str = "") -> Response:
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    settings = request.app.state.settings
    async with request.app.state.pool.acquire() as connection:
        invites = await repository.open_invites(connection, session.user_id, request.app.state.clock())
        claims = await repository.my_claims(connection, session.user_id)
    context = {
        "invites": invites,
        "claims": claims,
        "notice": NOTICES.get(done, ""),
        "invite_url": lambda invite_id: invite_url(settings, str(invite_id)),
    }
    return _page(request, "my_claims.html", context)


# --- The progress claim ---


@router.get("/claims/new", response_class=HTMLResponse)
async def new_claim(request: Request, commitment: str = "", period: str = "", waited: int = 0) -> Response:
    """Where Yes on an invite leads: the claim for the commitment and period, after logging in."""
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not commitment or not _is_uuid(period):
        return _message(
            request,
            400,
            "This link is not complete",
            "A progress claim link names a commitment and a billing period. Open it again from your invite.",
        )
    try:
        claim_id = await actions.open_new_claim(
            request.app.state.pool, session.user_id, period, commitment, request.app.state.clock()
        )
    except NotArrivedYet:
        if waited >= PREPARING_ATTEMPTS:
            return _message(
                request,
                404,
                "This billing period or commitment is not known",
                "We have waited, and still know of no such billing period or commitment. Check the link, or ask "
                "the contractor who invited you.",
                link=("My invites and claims", "/claims"),
            )
        query = urlencode({"commitment": commitment, "period": period, "waited": waited + 1})
        return _preparing(request, then=f"/claims/new?{query}")
    except ProblemForPerson as problem:
        return _problem_page(request, problem)
    return RedirectResponse(f"/claims/{claim_id}", status_code=303)


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
async def show_claim(request: Request, claim_id: str, done: str = "") -> Response:
    session = cookie_session(request)
    if session is None:
        return _login_redirect(request)
    if not _is_uuid(claim_id):
        return _no_such_claim(request)
    try:
        view = await actions.view_claim(request.app.state.pool, session.user_id, claim_id, request.app.state.clock())
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        return _problem_page(request, problem)
    return _claim_page(request, session, view, notice=NOTICES.get(done, ""))


@router.post("/claims/{claim_id}", response_class=HTMLResponse)
async def change_claim(request: Request, claim_id: str) -> Response:
    session = cookie_session(request)
    if session is None:
        return RedirectResponse("/login?" + urlencode({"next": f"/claims/{claim_id}"}), status_code=303)
    if not _is_uuid(claim_id):
        return _no_such_claim(request)
    form = await request.form()
    pool, clock = request.app.state.pool, request.app.state.clock
    if not csrf_token_is_valid(request.app.state.settings, form.get("csrf_token"), _claim_csrf(session, claim_id)):
        return _message(
            request, 403, "Please use the claim page", _STALE_FORM, link=("Open the claim", f"/claims/{claim_id}")
        )
    submit = form.get("action") == "submit"
    try:
        await actions.change_claim(pool, session.user_id, claim_id, _typed_amounts(form), submit, clock())
    except NotArrivedYet:
        return _preparing(request)
    except ProblemForPerson as problem:
        # The claim again, with the problem; or, when the claim itself is out of reach now, the problem alone.
        try:
            view = await actions.view_claim(pool, session.user_id, claim_id, clock())
        except (ProblemForPerson, NotArrivedYet):
            return _problem_page(request, problem)
        if isinstance(problem, FieldErrors):
            typed = {name: str(value) for name, value in form.items() if name.startswith(("this_period.", "stored."))}
            return _claim_page(
                request, session, view, problem=str(problem), errors=problem.errors, typed=typed, status_code=422
            )
        return _claim_page(request, session, view, problem=str(problem), status_code=problem.status_code)
    return RedirectResponse(f"/claims/{claim_id}?done={'submitted' if submit else 'saved'}", status_code=303)


# --- How the pages are put together ---

_STALE_FORM = (
    "The form did not come from this site, or it was open for more than a day. Nothing was changed; "
    "please try again from the page."
)


def _typed_amounts(form) -> dict[str, tuple[str, str]]:
    """line id -> (work completed this period, materials presently stored), as typed in the claim form."""
    lines = {name.split(".", 1)[1] for name in form if name.startswith(("this_period.", "stored."))}
    return {line: (str(form.get(f"this_period.{line}", "")), str(form.get(f"stored.{line}", ""))) for line in lines}


def _page(request: Request, template: str, context: dict, status_code: int = 200) -> HTMLResponse:
    session = cookie_session(request)
    settings = request.app.state.settings
    context = {
        "session": session,
        "logout_csrf_token": csrf_token(settings, _logout_csrf(session)) if session else "",
        **context,
    }
    return render(templates, request, template, context, status_code)


def _claim_page(
    request: Request,
    session: Session,
    view: ClaimView,
    *,
    notice: str = "",
    problem: str = "",
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "view": view,
        "notice": notice,
        "problem": problem,
        "errors": errors or {},
        "typed": typed or {},
        "csrf_token": csrf_token(request.app.state.settings, _claim_csrf(session, view.claim.claim_id)),
    }
    return _page(request, "claim.html", context, status_code)


def _login_form(
    request: Request, next: str, email: str, *, problem: str = "", notice: str = "", status_code: int = 200
):
    context = {"next": _safe_next(next), "email": email, "problem": problem, "notice": notice}
    return _anonymous_page(request, "login.html", _LOGIN_FORM, context, status_code)


def _password_request_form(request: Request, email: str, *, problem: str = "", status_code: int = 200):
    context = {"email": email, "problem": problem}
    return _anonymous_page(request, "password_request.html", _PASSWORD_REQUEST_FORM, context, status_code)


def _anonymous_page(request: Request, template: str, form: str, context: dict, status_code: int) -> HTMLResponse:
    """A page whose form is posted before login: its CSRF token is bound to this browser's cookie."""
    browser = request.cookies.get(_BROWSER_COOKIE) or secrets.token_urlsafe(16)
    token = csrf_token(request.app.state.settings, f"{form}:{browser}")
    response = _page(request, template, context | {"csrf_token": token}, status_code)
    if _BROWSER_COOKIE not in request.cookies:
        secure = request.app.state.settings.claims_public_url.startswith("https://")
        response.set_cookie(_BROWSER_COOKIE, browser, httponly=True, samesite="lax", secure=secure)
    return response


def _anonymous_form(request: Request, form: str) -> str:
    """What the CSRF token of a form posted before login must be bound to (nothing valid without the cookie)."""
    return f"{form}:{request.cookies.get(_BROWSER_COOKIE) or secrets.token_urlsafe(16)}"


def _password_form(request: Request, token: str, link: PasswordLink, *, problem: str = "", status_code: int = 200):
    context = {
        "action": f"/password/{token}",
        "problem": problem,
        "minimum_length": accounts.MINIMUM_PASSWORD_LENGTH,
        "csrf_token": csrf_token(request.app.state.settings, f"password:{link.request_id}"),
    }
    return _page(request, "password_set.html", context, status_code)


async def _password_request(request: Request, token: str) -> tuple[PasswordLink, None] | tuple[None, HTMLResponse]:
    """What a password link stands for, or the page that says why the link cannot be used."""
    try:
        link = read_password_link_token(request.app.state.settings, token)
        async with request.app.state.pool.acquire() as connection:
            await accounts.usable_password_request(connection, link, request.app.state.clock())
    except PermissionError as error:
        return None, _message(request, 400, "This password link is not valid", str(error), link=_NEW_LINK)
    except ProblemForPerson as problem:
        return None, _message(request, 410, "This password link cannot be used", str(problem), link=_NEW_LINK)
    return link, None


_NEW_LINK = ("Ask for a new link", "/password/new")


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": here}), status_code=303)


def _safe_next(next: str) -> str:
    """Only a path on this service: a login link cannot send anyone elsewhere."""
    return next if next.startswith("/") and not next.startswith(("//", "/\\")) else "/claims"


def _problem_page(request: Request, problem: ProblemForPerson) -> HTMLResponse:
    headings = {
        403: "You cannot make this progress claim",
        404: "There is no such progress claim",
        409: "No progress claim can be made now",
    }
    heading = headings.get(problem.status_code, "This cannot be done")
    return _message(request, problem.status_code, heading, str(problem), link=("My invites and claims", "/claims"))


def _no_such_claim(request: Request) -> HTMLResponse:
    return _message(request, 404, "There is no such progress claim", "Check the link, or open My invites and claims.")


def _preparing(request: Request, then: str | None = None) -> HTMLResponse:
    """A page that says what the link names is still on its way here, and refreshes (to `then`, if given)."""
    return _message(
        request,
        202,
        "Your claim is being prepared",
        "The billing period or the commitment has only just been set up and is still on its way here. This "
        f"page will refresh in {PREPARING_SECONDS} seconds.",
        refresh_seconds=PREPARING_SECONDS,
        refresh_url=then,
    )


def _message(request: Request, status_code: int, heading: str, message: str, **options) -> HTMLResponse:
    return message_page(templates, request, status_code, heading, message, **options)


def _logout_csrf(session: Session) -> str:
    return f"logout:{session.user_id}"


def _claim_csrf(session: Session, claim_id: str) -> str:
    return f"claim:{claim_id}:{session.user_id}"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
