"""Account rules, free of I/O: what a password must be, when a one-time link to set one may be used, and how
many attempts are let through.

Nothing a person is told depends on whether an email is known, so the pages cannot be used to find users.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import InvalidRequest, NotAllowed

MINIMUM_PASSWORD_LENGTH = 10
# Longer ones are refused, never cut short: hashing them would only cost time, and a cut password is not the one
# the person chose.
MAXIMUM_PASSWORD_LENGTH = 256
THROTTLE_WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
LINKS_PER_EMAIL = 3  # more requests within the window send nothing more (the page says the same)
LINK_REQUESTS_PER_ADDRESS = 20

WRONG_LOGIN = "The email or password is not right. Check both and try again, or set a new password."


def check_new_password(password: str) -> None:
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise InvalidRequest(f"Choose a password of at least {MINIMUM_PASSWORD_LENGTH} characters.")
    check_password_length(password)


def check_password_length(password: str) -> None:
    """Before any hashing: a password longer than any we accept is refused with a sentence."""
    if len(password) > MAXIMUM_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"A password has at most {MAXIMUM_PASSWORD_LENGTH} characters; this one has {len(password)}. "
            "Check what you typed, or choose a shorter one."
        )


@dataclass(frozen=True)
class PasswordRequest:
    """A one-time link to set a password, as it was sent."""

    user_id: str
    email: str  # the user's email now, in the ERP's directory
    expires_at: datetime
    used_at: datetime | None


def usable_by(request: PasswordRequest | None, link_email: str, now: datetime) -> str:
    """The user id the link is for; NotAllowed when it was used already, has expired, or was sent to an address
    that is not the user's."""
    if request is None or request.used_at is not None or request.expires_at <= now:
        raise NotAllowed(
            "This password link has been used already or has expired. Ask for a new one from the login page."
        )
    if request.email.lower() != link_email.lower():
        raise NotAllowed("This password link was not sent to this account's email address. Ask for a new one.")
    return request.user_id


def limits_reached(limits: dict[str, int], counts: dict[str, int]) -> list[str]:
    """The keys whose attempts within the window have reached their limit."""
    return [key for key, limit in limits.items() if counts.get(key, 0) >= limit]
