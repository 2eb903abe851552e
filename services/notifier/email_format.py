"""What every email the notifier sends has in common: safe headers, escaped templates, dates people read.

Headers go through the standard library's email API, and text from outside (names from the ERP or from a
person) is made one line first, so it is always a value and never header syntax. Bodies come from templates
with autoescaped HTML, so a name with `<script>` in it is shown as text.
"""

from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.settings import Settings

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def new_message(
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


def add_body(message: EmailMessage, template: str, context: dict) -> None:
    """Plain text first, HTML as the alternative mail apps prefer: `<template>.txt` and `<template>.html`."""
    message.set_content(_templates.get_template(f"{template}.txt").render(context))
    message.add_alternative(_templates.get_template(f"{template}.html").render(context), subtype="html")


def one_line(text: str) -> str:
    """Newlines and runs of spaces become one space: a name is one line, in a header and in a greeting."""
    return " ".join(text.split())


def day(moment: date) -> str:
    """5 December 2026: the same for readers everywhere, unlike 12/5/2026."""
    return f"{moment.day} {moment:%B %Y}"
