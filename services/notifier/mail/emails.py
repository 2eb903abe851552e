"""The emails the notifier sends: the Invite to Bill (also resent and as a reminder), the password link, and a
progress claim's review (approved, or sent back to revise).

Headers go through the standard library's email API, and text from outside (names from the ERP or from a
person) is made one line first, so it is always a value and never header syntax. Bodies come from templates
with autoescaped HTML, so a name with `<script>` in it is shown as text.
"""

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.contracts.claims import ClaimTotals, ProgressClaimApproved, ProgressClaimRevisionRequested
from shared.contracts.invites import Invite
from shared.invite_links import invite_url
from shared.password_links import password_link_url
from shared.settings import Settings

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# --- The Invite to Bill ---


@dataclass(frozen=True)
class InviteEmail:
    """One sending of an invite; `kind` is invite, resend or reminder."""

    invite: Invite
    kind: str
    message_id: str


def subject(email: InviteEmail) -> str:
    line = f"{email.invite.project_name}: {email.invite.invited_by.name} has invited you to bill"
    return f"Reminder: {line}" if email.kind == "reminder" else line


def build_message(email: InviteEmail, settings: Settings, now: datetime) -> EmailMessage:
    invite = email.invite
    message = _new_message(settings, subject(email), invite.contact.name, invite.contact.email, email.message_id, now)
    message["Reply-To"] = Address(one_line(invite.invited_by.name), addr_spec=invite.invited_by.email)
    _add_body(
        message,
        "invite",
        {
            "email": email,
            "invite": invite,
            "subject": subject(email),
            "billing_period": f"{day(invite.start_date)} to {day(invite.end_date)}",
            "due_date": day(invite.due_date),
            "due_time_zone": invite.project_timezone,
            "yes_url": invite_url(settings, invite.invite_id, "yes"),
            "no_url": invite_url(settings, invite.invite_id, "no"),
        },
    )
    return message


# --- The one-time link to set or reset a password (the claims service accepts the link) ---

PASSWORD_SUBJECT = "Set your Invite to Bill password"


@dataclass(frozen=True)
class PasswordEmail:
    request_id: str
    message_id: str
    name: str
    email: str
    expires_at: datetime


def build_password_message(email: PasswordEmail, settings: Settings, now: datetime) -> EmailMessage:
    message = _new_message(settings, PASSWORD_SUBJECT, email.name, email.email, email.message_id, now)
    _add_body(
        message,
        "password",
        {
            "subject": PASSWORD_SUBJECT,
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


# --- A progress claim reviewed (rule 18) ---


def claim_review_subject(review: ProgressClaimApproved | ProgressClaimRevisionRequested) -> str:
    outcome = "approved" if isinstance(review, ProgressClaimApproved) else "sent back to revise"
    return f"{review.project_name}: {review.commitment_number} progress claim {outcome}"


def claim_url(settings: Settings, claim_id: str) -> str:
    return f"{settings.claims_public_url.rstrip('/')}/claims/{claim_id}"


def build_claim_review_message(
    review: ProgressClaimApproved | ProgressClaimRevisionRequested,
    line_notes: list[tuple[str, str]],
    timezone: str | None,
    message_id: str,
    settings: Settings,
    now: datetime,
) -> EmailMessage:
    """To the claim's contact, from the reviewer (Reply-To): what was decided, and for a revision why, what to
    change (`line_notes`: each line's name and its note) and by when, with the link back to the claim. Times are
    in the project's `timezone`, or UTC while it is not known."""
    title = claim_review_subject(review)
    message = _new_message(settings, title, review.contact.name, review.contact.email, message_id, now)
    message["Reply-To"] = Address(one_line(review.reviewed_by.name), addr_spec=review.reviewed_by.email)
    approved = isinstance(review, ProgressClaimApproved)
    _add_body(
        message,
        "claim_review",
        {
            "subject": title,
            "approved": approved,
            "name": one_line(review.contact.name),
            "reviewer": one_line(review.reviewed_by.name),
            "project": one_line(review.project_name),
            "commitment": one_line(f"{review.commitment_number} {review.commitment_title}"),
            "revision": review.revision,
            "reviewed_on": _local_time(review.reviewed_at, timezone) if timezone else _utc_time(review.reviewed_at),
            "time_zone": f"{timezone} time" if timezone else "the project's time zone",
            "payment_due": None if not approved else money(review.totals),
            "reason": None if approved else review.reason.strip(),
            "line_notes": line_notes,
            "resubmit_by": None if approved else day(review.resubmit_by),
            "link": claim_url(settings, review.claim_id),
        },
    )
    return message


# --- A claim's payment schedule due in two business days (rule 18c) ---


def payment_schedule_reminder_subject(reminder: dict) -> str:
    due = day(date.fromisoformat(reminder["due"]))
    return f"{reminder['project_name']}: payment schedule for {reminder['commitment_number']} due {due}"


def build_payment_schedule_reminder(mail, settings: Settings, now: datetime) -> EmailMessage:
    """To one administrator of the project: which claim, the day its payment schedule is due under the Act, the
    business days left and the amount claimed, with the link to review it."""
    reminder, administrator = mail.reminder, mail.administrator
    title = payment_schedule_reminder_subject(reminder)
    message = _new_message(settings, title, administrator["name"], administrator["email"], mail.message_id, now)
    _add_body(
        message,
        "payment_schedule_reminder",
        {
            "subject": title,
            "name": one_line(administrator["name"]),
            "project": one_line(reminder["project_name"]),
            "commitment": one_line(f"{reminder['commitment_number']} {reminder['commitment_title']}"),
            "contact": one_line(reminder["contact_name"]),
            "revision": reminder["revision"],
            "due": day(date.fromisoformat(reminder["due"])),
            "days_left": reminder["business_days_left"],
            "time_zone": reminder["time_zone"],
            "act": reminder["act"],
            "amount": reminder["amount"],
            "link": claim_url(settings, reminder["claim_id"]),
        },
    )
    return message


def money(totals: ClaimTotals) -> str:
    """The payment due as the claim states it: AUD 12,345.60."""
    return f"{totals.currency} {totals.current_payment_due:,.2f}"


# --- What every email has ---


def _new_message(
    settings: Settings, subject: str, to_name: str, to_email: str, message_id: str, now: datetime
) -> EmailMessage:
    """The headers every email has; the caller adds any others and then the body."""
    message = EmailMessage()
    message["Subject"] = one_line(subject)
    message["From"] = settings.mail_from
    message["To"] = Address(one_line(to_name), addr_spec=to_email)
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _add_body(message: EmailMessage, template: str, context: dict) -> None:
    """Plain text first, HTML as the alternative mail apps prefer: `<template>.txt` and `<template>.html`."""
    message.set_content(_templates.get_template(f"{template}.txt").render(context))
    message.add_alternative(_templates.get_template(f"{template}.html").render(context), subtype="html")


def one_line(text: str) -> str:
    """Newlines and runs of spaces become one space: a name is one line, in a header and in a greeting."""
    return " ".join(text.split())


def day(moment: date) -> str:
    """5 December 2026: the same for readers everywhere, unlike 12/5/2026."""
    return f"{moment.day} {moment:%B %Y}"


def _local_time(moment: datetime, timezone: str) -> str:
    """09:30 on 7 December 2026 (Australia/Sydney time)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%H:%M} on {day(local)} ({timezone} time)"


def _utc_time(moment: datetime) -> str:
    """14:05 UTC on 2 November 2026: the reader's own time zone is not known, so UTC, saying so."""
    utc = moment.astimezone(UTC)
    return f"{utc:%H:%M} UTC on {day(utc)}"
