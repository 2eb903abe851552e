"""The Invite to Bill email: headers through the standard library's email API, body from escaped templates."""

from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.invite_links import invite_url
from shared.settings import Settings

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


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
    message = EmailMessage()
    # Header values from the ERP are data, never header syntax: newlines cannot start a new header.
    message["Subject"] = _one_line(subject(email))
    message["From"] = settings.mail_from
    message["To"] = Address(_one_line(email.contact_name), addr_spec=email.contact_email)
    message["Reply-To"] = Address(_one_line(email.invited_by_name), addr_spec=email.invited_by_email)
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"

    context = {
        "email": email,
        "subject": subject(email),
        "billing_period": f"{_day(email.start_date)} to {_day(email.end_date)}",
        "due_date": _day(email.due_date),
        "due_time_zone": email.project_timezone,
        "yes_url": invite_url(settings, email.invite_id, "yes"),
        "no_url": invite_url(settings, email.invite_id, "no"),
    }
    message.set_content(_templates.get_template("invite.txt").render(context))
    message.add_alternative(_templates.get_template("invite.html").render(context), subtype="html")
    return message


def _day(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def _one_line(text: str) -> str:
    return " ".join(text.split())
