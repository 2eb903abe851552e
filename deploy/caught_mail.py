"""Reading the mail the catcher kept (deploy/mailcatcher.py): for its pages and for `itb mail list` and
`itb mail show N`, which read the Maildir directly."""

import email
import mailbox
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path

SHOWN_HEADERS = ("From", "To", "Reply-To", "Subject", "Date", "Message-ID")
NO_SUBJECT = "(no subject)"


@dataclass(frozen=True)
class StoredMessage:
    number: int
    key: str
    received_at: datetime
    sender: str
    recipients: tuple[str, ...]
    subject: str


class NoSuchMessage(LookupError):
    def __init__(self, number: int, count: int):
        self.number = number
        self.count = count
        super().__init__(f"There is no message {number}; `itb mail list` shows {count_of_messages(count)}.")


def list_messages(maildir: Path) -> list[StoredMessage]:
    if not maildir.is_dir():
        return []
    box = mailbox.Maildir(maildir, create=False)
    arrivals = sorted((box.get_message(key).get_date(), _key_order(key), key) for key in box.keys())
    return [
        _stored(number, key, delivered_at, _parse(box.get_bytes(key)))
        for number, (delivered_at, _, key) in enumerate(arrivals, start=1)
    ]


def read_message(maildir: Path, number: int) -> EmailMessage:
    return _parse(raw_message(maildir, number))


def format_listing(maildir: Path) -> str:
    messages = list_messages(maildir)
    if not messages:
        return f"No mail has arrived in {maildir} yet; messages the stack sends will be listed here."
    number_width = len(str(len(messages)))
    to_width = max(len(addressed_to(message)) for message in messages)
    return "\n".join(
        f"{message.number:>{number_width}}  {when(message.received_at)}  "
        f"{addressed_to(message):<{to_width}}  {message.subject or NO_SUBJECT}"
        for message in messages
    )


def format_message(maildir: Path, number: int) -> str:
    message = read_message(maildir, number)
    plain = message.get_body(preferencelist=("plain",))
    lines = [f"{name}: {value}" for name, value in shown_headers(message)]
    lines.append("")
    lines.append(plain.get_content().rstrip() if plain else "(This message has no plain-text part.)")
    if others := other_parts(message, shown=[plain]):
        lines += ["", f"Other parts: {', '.join(others)}."]
    return "\n".join(lines)


def raw_message(maildir: Path, number: int) -> bytes:
    messages = list_messages(maildir)
    if not 1 <= number <= len(messages):
        raise NoSuchMessage(number, len(messages))
    return mailbox.Maildir(maildir, create=False).get_bytes(messages[number - 1].key)


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email_policy)


def _stored(number: int, key: str, delivered_at: float, message: EmailMessage) -> StoredMessage:
    recipients = str(message.get("X-Rcpt-To", ""))
    return StoredMessage(
        number=number,
        key=key,
        received_at=datetime.fromtimestamp(delivered_at).astimezone(),
        sender=str(message.get("X-Mail-From", "")),
        recipients=tuple(recipients.split(", ")) if recipients else (),
        subject=str(message.get("Subject", "")),
    )


def _key_order(key: str) -> list[int]:
    # Keys start "<seconds>.M<microseconds>P<pid>Q<count>" with unpadded numbers, so compare the numbers.
    return [int(digits) for digits in re.findall(r"\d+", key)]


def shown_headers(message: EmailMessage) -> list[tuple[str, str]]:
    return [(name, str(message[name])) for name in SHOWN_HEADERS if message[name] is not None]


def other_parts(message: EmailMessage, shown: list[EmailMessage | None]) -> list[str]:
    return [
        f"{part.get_content_type()} ({part.get_filename()})" if part.get_filename() else part.get_content_type()
        for part in message.walk()
        if not part.is_multipart() and not any(part is seen for seen in shown)
    ]


def addressed_to(message: StoredMessage) -> str:
    return ", ".join(message.recipients)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def count_of_messages(count: int) -> str:
    return {0: "no messages", 1: "1 message"}.get(count, f"{count} messages")
