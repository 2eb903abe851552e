"""Logging in and out, and setting a password through an emailed link."""

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.claims.domain.accounts import MAXIMUM_PASSWORD_LENGTH, MINIMUM_PASSWORD_LENGTH
from services.claims.pages.rendering import NOTICES, STALE_FORM, logout_csrf, message, page
from services.claims.use_cases import accounts as use_cases
from shared.csrf import csrf_token, csrf_token_is_valid
from shared.errors import ProblemForPerson
from shared.password_links import PasswordLink, read_password_link_token
from shared.service import client_address
from shared.sessions import cookie_session, delete_session_cookie, issue_session_token, set_session_cookie
from shared.settings import Settings

router = APIRouter(tags=["account pages"], include_in_schema=False)

# Forms shown before anyone is logged in are bound to a random value in a cookie of this browser, so that
# another site cannot post them with a token it fetched for itself (and log a person in as someone else).
# Under https the cookie is `__Host-` named, like the session's (shared.sessions), so no sibling site sets it.
_BROWSER_COOKIE = "itb_browser"
_SECURE_BROWSER_COOKIE = "__Host-itb_browser"
_LOGIN_FORM = "login"
_PASSWORD_REQUEST_FORM = "password-request"
_NEW_LINK = ("Ask for a new link", "/password/new")


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
        return _login_form(request, next, email, problem=STALE_FORM, status_code=403)
    try:
        state = request.app.state
        logged_in = await use_cases.log_in(
            state.pool, email, password, client_address(request), state.clock(), state.metrics
        )
    except ProblemForPerson as problem:
        return _login_form(request, next, email, problem=str(problem), status_code=problem.status_code)
    return _logged_in(request, logged_in, _safe_next(next, request.app.state.settings))


@router.post("/logout")
async def log_out(request: Request, csrf_token: str = Form("")) -> Response:
    """Ends every session of the account, here and on every other service, not only this browser's."""
    settings = request.app.state.settings
    session = cookie_session(request)
    if session is not None:
        if not csrf_token_is_valid(settings, csrf_token, logout_csrf(session)):
            return message(request, 403, "Please log out from the page", STALE_FORM)
        await use_cases.log_out(request.app.state.pool, session.user_id, request.app.state.clock())
    response = RedirectResponse("/login?done=logged-out", status_code=303)
    delete_session_cookie(response, settings.claims_public_url)
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
        return _password_request_form(request, email, problem=STALE_FORM, status_code=403)
    if "@" not in email:
        return _password_request_form(request, email, problem="Enter your email address.", status_code=422)
    try:
        await use_cases.request_password_link(
            request.app.state.pool, email, client_address(request), request.app.state.clock()
        )
    except ProblemForPerson as problem:
        return _password_request_form(request, email, problem=str(problem), status_code=problem.status_code)
    # The same answer whether or not the email is known: the page does not reveal who has an account.
    return message(
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
    if not csrf_token_is_valid(request.app.state.settings, csrf_token, _anonymous_form(request, _password_set(link))):
        return _password_form(request, token, link, problem=STALE_FORM, status_code=403)
    if password != confirmation:
        return _password_form(request, token, link, problem="The two passwords differ.", status_code=422)
    try:
        logged_in = await use_cases.use_password_link(request.app.state.pool, link, password, request.app.state.clock())
    except ProblemForPerson as problem:
        return _password_form(request, token, link, problem=str(problem), status_code=problem.status_code)
    return _logged_in(request, logged_in, "/claims?done=password-set")


# --- How the pages are put together ---


def _logged_in(request: Request, logged_in: use_cases.LoggedIn, next: str) -> Response:
    """On to `next` with a new session, carrying the account's session version."""
    settings = request.app.state.settings
    person = logged_in.person
    token = issue_session_token(settings, person.id, person.email, session_version=logged_in.session_version)
    response = RedirectResponse(next, status_code=303)
    set_session_cookie(response, settings, token, settings.claims_public_url)
    return response


def _login_form(
    request: Request, next: str, email: str, *, problem: str = "", notice: str = "", status_code: int = 200
):
    context = {
        "next": _safe_next(next, request.app.state.settings),
        "email": email,
        "problem": problem,
        "notice": notice,
    }
    return _anonymous_page(request, "login.html", _LOGIN_FORM, context, status_code)


def _password_request_form(request: Request, email: str, *, problem: str = "", status_code: int = 200):
    context = {"email": email, "problem": problem}
    return _anonymous_page(request, "password_request.html", _PASSWORD_REQUEST_FORM, context, status_code)


def _anonymous_page(request: Request, template: str, form: str, context: dict, status_code: int) -> HTMLResponse:
    """A page whose form is posted before login: its CSRF token is bound to this browser's cookie."""
    browser = _browser(request) or secrets.token_urlsafe(16)
    token = csrf_token(request.app.state.settings, f"{form}:{browser}")
    response = page(request, template, context | {"csrf_token": token}, status_code)
    if _browser(request) is None:
        secure = request.app.state.settings.claims_public_url.startswith("https://")
        name = _SECURE_BROWSER_COOKIE if secure else _BROWSER_COOKIE
        response.set_cookie(name, browser, path="/", httponly=True, samesite="lax", secure=secure)
    return response


def _browser(request: Request) -> str | None:
    return request.cookies.get(_SECURE_BROWSER_COOKIE) or request.cookies.get(_BROWSER_COOKIE)


def _anonymous_form(request: Request, form: str) -> str:
    """What the CSRF token of a form posted before login must be bound to (nothing valid without the cookie)."""
    return f"{form}:{_browser(request) or secrets.token_urlsafe(16)}"


def _password_set(link: PasswordLink) -> str:
    """The password form acts on one link, from one browser: a token fetched elsewhere is refused."""
    return f"password:{link.request_id}"


def _password_form(request: Request, token: str, link: PasswordLink, *, problem: str = "", status_code: int = 200):
    context = {
        "action": f"/password/{token}",
        "problem": problem,
        "minimum_length": MINIMUM_PASSWORD_LENGTH,
        "maximum_length": MAXIMUM_PASSWORD_LENGTH,
    }
    return _anonymous_page(request, "password_set.html", _password_set(link), context, status_code)


async def _password_request(request: Request, token: str) -> tuple[PasswordLink, None] | tuple[None, HTMLResponse]:
    """What a password link stands for, or the page that says why the link cannot be used."""
    try:
        link = read_password_link_token(request.app.state.settings, token)
        await use_cases.usable_password_request(request.app.state.pool, link, request.app.state.clock())
    except PermissionError as error:
        return None, message(request, 400, "This password link is not valid", str(error), link=_NEW_LINK)
    except ProblemForPerson as problem:
        return None, message(request, 410, "This password link cannot be used", str(problem), link=_NEW_LINK)
    return link, None


def _safe_next(next: str, settings: Settings) -> str:
    """A path on this service, or a page of one of the services' public URLs (the administrator's pages on the
    periods service send people here to log in): a login link cannot send anyone to another site."""
    if "\\" in next or any(ord(character) < 32 for character in next):
        return "/claims"  # browsers read a backslash as a slash, and drop tabs and newlines
    if next.startswith("/") and not next.startswith("//"):
        return next
    parts = urlsplit(next)
    ours = {
        _origin(url)
        for url in (
            settings.periods_public_url,
            settings.notifier_public_url,
            settings.responses_public_url,
            settings.claims_public_url,
        )
    }
    if parts.scheme in ("http", "https") and parts.username is None and _origin(next) in ours:
        return next
    return "/claims"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
