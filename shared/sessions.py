"""Sessions: a bearer token for API clients, the same value as a cookie for browsers, accepted by every service.

Only the claims service makes them: a session is a JWT signed with its Ed25519 private key (`shared.keys`),
and every service checks it with the public key. It carries when it was issued and the account's session
version. A logout, or a password set or reset, raises the version (SessionsEnded on `accounts`), and every
service refuses sessions with an older one (`shared.session_versions`).

The window before the event arrives: the claims service refuses an ended session at once (its copy changes in
the same transaction), while another service accepts it until SessionsEnded has reached it, usually well under
a second after the logout, longer while the broker or that service is away. We chose that over asking the
claims service on every request, which would stop every service whenever the claims service is down, and over
short sessions refreshed often, which would log people out while they fill in a claim. A service that starts
afresh reads `accounts` from its beginning, so it learns every ending of a session that has not yet expired.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, Response, status

from shared.session_versions import session_version
from shared.settings import Settings

# `__Host-` makes browsers refuse the cookie unless it is Secure, for the whole host, and set by it: another
# site on a sibling domain cannot plant a session. It needs https, so plain http local runs use the plain name.
SESSION_COOKIE = "itb_session"
SECURE_SESSION_COOKIE = "__Host-itb_session"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_ALGORITHM = "EdDSA"
_ISSUER = "invite-to-bill claims"
_CLOCK_SKEW = timedelta(seconds=30)  # between the claims service's clock and another service's
_NOT_VALID = "The session token is not valid; please log in again."
_ENDED = "This session has ended (a logout, or a new password); please log in again."


@dataclass(frozen=True)
class Session:
    user_id: str
    email: str
    issued_at: datetime
    session_version: int  # the account's, when the session was made


def issue_session_token(
    settings: Settings, user_id: str, email: str, *, session_version: int = 0, now: datetime | None = None
) -> str:
    """A session for the user, signed with the claims service's key; PermissionError where that key is not held
    (in production, anywhere but the claims service). `session_version` is the account's now."""
    issued_at = now or datetime.now(UTC)
    claims = {
        "iss": _ISSUER,
        "sub": user_id,
        "email": email,
        "ver": session_version,
        "iat": issued_at,
        "exp": issued_at + timedelta(seconds=settings.session_max_age_seconds),
    }
    return jwt.encode(claims, settings.session_signing_key, algorithm=_ALGORITHM)


def read_session_token(settings: Settings, token: str) -> Session:
    """The session the token stands for, when the claims service's key (or during a rotation, its previous key)
    signed it and it has not expired; raises PermissionError saying why not otherwise. Whether it has been ended
    since needs the database: `current_session` and `cookie_session` check that too."""
    for key in settings.session_verifying_keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                leeway=_CLOCK_SKEW,
                options={"require": ["iss", "sub", "iat", "exp"]},
            )
        except jwt.InvalidSignatureError:
            continue  # perhaps the other key's
        except jwt.ExpiredSignatureError as error:
            raise PermissionError("Your session has expired; please log in again.") from error
        except jwt.InvalidTokenError as error:
            raise PermissionError(_NOT_VALID) from error
        if not isinstance(claims.get("email"), str) or not isinstance(claims.get("ver"), int):
            raise PermissionError(_NOT_VALID)
        return Session(
            user_id=claims["sub"],
            email=claims["email"],
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            session_version=claims["ver"],
        )
    raise PermissionError(_NOT_VALID)


async def _checked_session(request: Request, token: str) -> Session:
    """The token's session if it is valid and has not been ended; PermissionError otherwise. Checked once per
    request, the outcome kept on the request."""
    checked = _checked_on(request)
    if token not in checked:
        try:
            session = read_session_token(request.app.state.settings, token)
            if session.session_version < await session_version(request.app.state.pool, session.user_id):
                raise PermissionError(_ENDED)
            checked[token] = session
        except PermissionError as refusal:
            checked[token] = refusal
    outcome = checked[token]
    if isinstance(outcome, PermissionError):
        raise outcome
    return outcome


def _checked_on(request: Request) -> dict[str, Session | PermissionError]:
    if not hasattr(request.state, "checked_sessions"):
        request.state.checked_sessions = {}
    return request.state.checked_sessions


def _cookie_token(request: Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


def session_cookie_name(public_url: str) -> str:
    return SECURE_SESSION_COOKIE if public_url.startswith("https://") else SESSION_COOKIE


def set_session_cookie(response: Response, settings: Settings, token: str, public_url: str) -> None:
    """The session as a browser keeps it: HttpOnly, SameSite; under https also Secure and `__Host-` named."""
    secure = public_url.startswith("https://")
    response.set_cookie(
        session_cookie_name(public_url),
        token,
        max_age=settings.session_max_age_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def delete_session_cookie(response: Response, public_url: str) -> None:
    secure = public_url.startswith("https://")
    response.delete_cookie(session_cookie_name(public_url), path="/", httponly=True, samesite="lax", secure=secure)


async def check_session_cookie(request: Request) -> None:
    """Dependency of every route (`shared.service`): checks the cookie's session, database included, before the
    route runs, so that the pages' `cookie_session` (not async) sees a session ended elsewhere as ended."""
    token = _cookie_token(request)
    if token:
        try:
            await _checked_session(request, token)
        except PermissionError:
            pass  # the page treats the browser as logged out


def cookie_session(request: Request) -> Session | None:
    """For pages: the browser's session from its cookie, or None when it has none (or one no longer valid).
    A change made with it needs a CSRF token, as a browser sends the cookie with forged requests too."""
    token = _cookie_token(request)
    outcome = _checked_on(request).get(token) if token else None
    # Not checked means `check_session_cookie` did not run: refuse rather than skip the ended-session check.
    return outcome if isinstance(outcome, Session) else None


async def current_session(request: Request) -> Session:
    """FastAPI dependency for the JSON APIs: the caller's session from `Authorization: Bearer`, or from the
    session cookie for reading only: a browser sends the cookie with forged requests too, so a change made
    with it needs a CSRF token (the pages' forms carry one)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else None
    if token is None and request.method in _SAFE_METHODS:
        token = _cookie_token(request)
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "You are not logged in: send a session token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return await _checked_session(request, token)
    except PermissionError as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error), headers={"WWW-Authenticate": "Bearer"}) from error


CurrentSession = Annotated[Session, Depends(current_session)]
