"""Signed, expiring session tokens: a bearer token for API clients, the same value as a cookie for browsers.

Every service holds the shared secret, so a session made by one service is valid on all of them.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from shared.settings import Settings

SESSION_COOKIE = "itb_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_SALT = "itb.session.v1"


@dataclass(frozen=True)
class Session:
    user_id: str
    email: str


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT)


def issue_session_token(settings: Settings, user_id: str, email: str) -> str:
    return _serializer(settings).dumps({"sub": user_id, "email": email})


def read_session_token(settings: Settings, token: str) -> Session:
    """The session the token stands for; raises PermissionError saying why it is not accepted."""
    try:
        claims = _serializer(settings).loads(token, max_age=settings.session_max_age_seconds)
    except SignatureExpired as error:
        raise PermissionError("Your session has expired; please log in again.") from error
    except BadSignature as error:
        raise PermissionError("The session token is not valid; please log in again.") from error
    return Session(user_id=claims["sub"], email=claims["email"])


def set_session_cookie(response: Response, settings: Settings, token: str, public_url: str) -> None:
    """The session as a browser keeps it: HttpOnly, SameSite, Secure when the service is served over https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=public_url.startswith("https://"),
    )


def cookie_session(request: Request) -> Session | None:
    """For pages: the browser's session from its cookie, or None when it has none (or one no longer valid).
    A change made with it needs a CSRF token, as a browser sends the cookie with forged requests too."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return read_session_token(request.app.state.settings, token)
    except PermissionError:
        return None


def current_session(request: Request) -> Session:
    """FastAPI dependency for the JSON APIs: the caller's session from `Authorization: Bearer`, or from the
    session cookie for reading only: a browser sends the cookie with forged requests too, so a change made
    with it needs a CSRF token (the pages' forms carry one)."""
    settings: Settings = request.app.state.settings
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else None
    if token is None and request.method in _SAFE_METHODS:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "You are not logged in: send a session token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return read_session_token(settings, token)
    except PermissionError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error), headers={"WWW-Authenticate": "Bearer"}) from error


CurrentSession = Annotated[Session, Depends(current_session)]
