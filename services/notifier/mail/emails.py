"""The emails the notifier sends: the Invite to Bill (also resent and as a reminder), the password link, and a
progress claim's review (approved, or sent back to revise).

Headers go through the standard library's email API, and text from outside (names from the ERP or from a
person) is made one line first, so it is always a value and never header syntax. Bodies come from templates
with autoescaped HTML, so a name with `<script>` in it is shown as text.
"""

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy, quoprimime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape

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
    _add_body(message, "invite", _invite_context(email, settings))
    return message


def _invite_context(email: InviteEmail, settings: Settings) -> dict:
    invite = email.invite
    return {
        "email": email,
        "invite": invite,
        "subject": subject(email),
        "billing_period": f"{day(invite.start_date)} to {day(invite.end_date)}",
        "due_date": day(invite.due_date),
        "due_time_zone": invite.project_timezone,
        "yes_url": invite_url(settings, invite.invite_id, "yes"),
        "no_url": invite_url(settings, invite.invite_id, "no"),
    }


@dataclass(frozen=True)
class Outgoing:
    """An email ready for the mail server: its envelope and its bytes (SMTP line endings)."""

    sender: str
    recipient: str
    data: bytes


class InviteEmails:
    """Invite emails as `build_message` builds them, made much faster: most of an invite email is the same for
    everyone a period's invites go to (its headers but To, Message-ID and Date; its two parts but the contact's
    name, the commitment and the links), so that part is built once per period, kind and inviter, with the
    standard library's email API and the same templates, and kept encoded. Each email then only fills in its
    own values, HTML-escaped for the HTML part, on the lines that hold them, each line quoted-printable encoded
    as the library encodes it. An email the shortcut cannot carry as the library would (an address that needs
    SMTPUTF8, or shared text holding the character that marks an email's own values) is built by `build_message`."""

    def __init__(self, settings: Settings, periods_kept: int = 32):
        self._settings = settings
        self._periods_kept = periods_kept
        self._periods: dict[tuple, _PeriodEmail] = {}
        self._sender = Address(addr_spec=_addr_spec(settings.mail_from)).addr_spec

    def message(self, email: InviteEmail, now: datetime, headers: dict[str, str]) -> Outgoing | EmailMessage:
        """The email to send, with `headers` (a trace's) added; raises what `build_message` raises for an email
        that cannot be built."""
        invite = email.invite
        to = Address(one_line(invite.contact.name), addr_spec=invite.contact.email)
        shared = (invite.project_name, invite.project_timezone, invite.invited_by.name, invite.invited_by.email)
        if not (to.addr_spec.isascii() and self._sender.isascii()) or any(_NUL in text for text in shared):
            message = build_message(email, self._settings, now)
            for header, value in headers.items():
                message[header] = value
            return message
        period = self._period(email)
        link = invite_url(self._settings, invite.invite_id)  # signed once for both answers
        values = {
            _CONTACT_NAME: invite.contact.name,
            _COMMITMENT_NUMBER: invite.commitment.number,
            _COMMITMENT_TITLE: invite.commitment.title,
            _VENDOR_NAME: invite.commitment.vendor_name,
            _YES_URL: f"{link}?answer=yes",
            _NO_URL: f"{link}?answer=no",
        }
        own_headers = [_header_line("To", to), f"Message-ID: {email.message_id}", f"Date: {format_datetime(now)}"]
        own_headers += [f"{name}: {value}" for name, value in headers.items()]
        data = period.fill(own_headers, values)
        if data is None:  # the period's boundary turned up in this email's text: the library chooses another
            message = build_message(email, self._settings, now)
            for header, value in headers.items():
                message[header] = value
            return message
        return Outgoing(self._sender, to.addr_spec, data)

    def _period(self, email: InviteEmail) -> "_PeriodEmail":
        invite = email.invite
        key = (
            email.kind,
            invite.period_id,
            invite.project_name,
            invite.project_timezone,
            invite.start_date,
            invite.end_date,
            invite.due_date,
            invite.invited_by.name,
            invite.invited_by.email,
        )
        period = self._periods.pop(key, None)
        if period is None:
            period = _PeriodEmail(email, self._settings)
            if len(self._periods) >= self._periods_kept:
                del self._periods[next(iter(self._periods))]  # the one used longest ago
        self._periods[key] = period
        return period


# What differs between the invite emails of one period, marked in the part they share: with a character that no
# template, escaping or encoding changes (a period whose shared text holds it is built whole).
_NUL = "\x00"
_CONTACT_NAME, _COMMITMENT_NUMBER, _COMMITMENT_TITLE, _VENDOR_NAME, _YES_URL, _NO_URL = (
    f"{_NUL}{n}{_NUL}" for n in range(6)
)
_MARK = re.compile("(\x00[0-9]\x00)")
_LINESEP = "\n"  # aiosmtplib sends every line ending as CRLF


class _PeriodEmail:
    """The part of an invite email the same for a whole period, kind and inviter: its headers, and its two parts
    encoded line by line, the lines that hold an email's own values kept to fill in."""

    def __init__(self, email: InviteEmail, settings: Settings):
        marked = email.invite.model_copy(
            update={
                "contact": email.invite.contact.model_copy(update={"name": _CONTACT_NAME}),
                "commitment": email.invite.commitment.model_copy(
                    update={"number": _COMMITMENT_NUMBER, "title": _COMMITMENT_TITLE, "vendor_name": _VENDOR_NAME}
                ),
            }
        )
        context = _invite_context(InviteEmail(marked, email.kind, email.message_id), settings)
        context["yes_url"], context["no_url"] = _YES_URL, _NO_URL
        message = EmailMessage()
        message["Subject"] = one_line(context["subject"])
        message["From"] = settings.mail_from
        message["Auto-Submitted"] = "auto-generated"
        message["Reply-To"] = Address(one_line(email.invite.invited_by.name), addr_spec=email.invite.invited_by.email)
        message.make_alternative()
        self._boundary = f"==============={uuid.uuid4().int:039d}=="
        message.set_boundary(self._boundary)
        self._headers = message.as_bytes().decode("ascii").split(_LINESEP * 2)[0]
        self._parts = [
            (_part_headers("plain"), _EncodedLines(_templates.get_template("invite.txt").render(context), escape=str)),
            (
                _part_headers("html"),
                _EncodedLines(_templates.get_template("invite.html").render(context), escape=_html),
            ),
        ]

    def fill(self, own_headers: list[str], values: dict[str, str]) -> bytes | None:
        """The email's bytes, or None when its text holds the boundary between the parts."""
        delimiter = f"--{self._boundary}"
        chunks = [_LINESEP.join(own_headers), _LINESEP, self._headers, _LINESEP, _LINESEP]
        for headers, lines in self._parts:
            body = lines.fill(values)
            if delimiter in body:
                return None
            chunks += [delimiter, _LINESEP, headers, _LINESEP, _LINESEP, body, _LINESEP]
        chunks += [delimiter, "--", _LINESEP]
        return "".join(chunks).encode("ascii")


class _EncodedLines:
    """A rendered part, quoted-printable encoded line by line as `set_content` encodes it (a line of its UTF-8
    bytes at a time); the lines with marks are kept as text and encoded once their values are in."""

    def __init__(self, text: str, escape: Callable[[str], str]):
        self._escape = escape
        self._lines: list[str | list[str]] = []
        for line in text.split("\n"):
            if _MARK.search(line):
                self._lines.append(_MARK.split(line))
            else:
                self._lines += _quoted_printable(line)

    def fill(self, values: dict[str, str]) -> str:
        lines = []
        for line in self._lines:
            if isinstance(line, str):
                lines.append(line)
            else:
                lines += _quoted_printable(
                    "".join(self._escape(values[part]) if part in values else part for part in line)
                )
        return "\n".join(lines) + "\n"


def _quoted_printable(text: str) -> list[str]:
    # As `set_content` encodes a line of UTF-8 text (a value may hold line breaks): split as bytes, each byte a
    # latin-1 character to the encoder.
    lines = (text + "\n").encode("utf-8").splitlines()
    return [quoprimime.body_encode(line.decode("latin-1"), _MAX_LINE_LENGTH) for line in lines]


_MAX_LINE_LENGTH = policy.SMTP.max_line_length


def _part_headers(subtype: str) -> str:
    return _LINESEP.join(
        [f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable"]
    )


def _html(text: str) -> str:
    return str(escape(text))


def _header_line(name: str, address: Address) -> str:
    shown = str(address)
    if shown.isascii() and len(name) + 2 + len(shown) <= _MAX_LINE_LENGTH:
        return f"{name}: {shown}"
    return policy.default.header_factory(name, address).fold(policy=policy.default).rstrip(_LINESEP)


def _addr_spec(mailbox: str) -> str:
    return policy.default.header_factory("From", mailbox).addresses[0].addr_spec


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
