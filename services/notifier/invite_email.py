"""The Invite to Bill email: headers through the standard library's email API, body from escaped templates."""

from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from services.notifier.email_format import add_body, day, new_message, one_line
from shared.invite_links import invite_url
from shared.settings import Settings


@dataclass(frozen=True)
class InviteEmail:
    """What one email says; `kind` is invite, resend or reminder."""

    invite_id: str
    kind: str
    message_id: str
    project_name: str
    project_timezone: str
    commitment_number: str
    commitment_title: str
    vendor_name: str
    contact_name: str
    contact_email: str
    invited_by_name: str
    invited_by_email: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime


def subject(email: InviteEmail) -> str:
    line = f"{email.project_name}: {email.invited_by_name} has invited you to bill"
    return f"Reminder: {line}" if email.kind == "reminder" else line


def build_message(email: InviteEmail, settings: Settings, now: datetime) -> EmailMessage:
    # Header values from the ERP are data, never header syntax: newlines cannot start a new header.
    message = new_message(settings, subject(email), email.contact_name, email.contact_email, email.message_id, now)
    message["Reply-To"] = Address(one_line(email.invited_by_name), addr_spec=email.invited_by_email)
    add_body(
        message,
        "invite",
        {
            "email": email,
            "subject": subject(email),
            "billing_period": f"{day(email.start_date)} to {day(email.end_date)}",
            "due_date": day(email.due_date),
            "due_time_zone": email.project_timezone,
            "yes_url": invite_url(settings, email.invite_id, "yes"),
            "no_url": invite_url(settings, email.invite_id, "no"),
        },
    )
    return message
