"""The email with a one-time link to set or reset a password (the claims service accepts the link)."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from services.notifier.email_format import add_body, day, new_message, one_line
from shared.password_links import password_link_url
from shared.settings import Settings

SUBJECT = "Set your Invite to Bill password"


@dataclass(frozen=True)
class PasswordEmail:
    request_id: str
    message_id: str
    name: str
    email: str
    expires_at: datetime


def build_password_message(email: PasswordEmail, settings: Settings, now: datetime) -> EmailMessage:
    message = new_message(settings, SUBJECT, email.name, email.email, email.message_id, now)
    add_body(
        message,
        "password",
        {
            "subject": SUBJECT,
            "name": one_line(email.name),
            "link": password_link_url(settings, email.request_id, email.email),
            "expires_within": expires_within(email.expires_at - now),
            "expires_at": _utc_time(email.expires_at),
        },
    )
    return message


def expires_within(remaining: timedelta) -> str:
    """How long the link has left, rounded up, since a retried send may go out later than it was asked for."""
    minutes = max(math.ceil(remaining.total_seconds() / 60), 1)
    if minutes == 1:
        return "within a minute"
    if minutes < 60:
        return f"within {minutes} minutes"
    hours = math.ceil(minutes / 60)
    return "within an hour" if hours == 1 else f"within {hours} hours"


def _utc_time(moment: datetime) -> str:
    """14:05 UTC on 2 November 2026: the reader's own time zone is not known, so UTC, saying so."""
    utc = moment.astimezone(UTC)
    return f"{utc:%H:%M} UTC on {day(utc)}"
