"""The local stack's mail catcher: an SMTP server keeping every message in a Maildir, and pages to read them.

`itb up` runs it so a person can read the invites and reminders the system sent, either in a browser or with
`itb mail list` and `itb mail show N` (both read the Maildir through deploy/caught_mail.py). Like a real mail
server it refuses some addresses for good (by default the demo's DEMO_REFUSED_ADDRESS), so that the demo shows an
invite whose delivery failed.

    python -m deploy.mailcatcher --maildir .state/mail [--smtp-port 1025] [--http-port 8025] [--refuse ADDRESS]
"""

import argparse
import asyncio
import contextlib
import html
import mailbox
import os
import re
import signal
import socket
import sys
from collections.abc import Collection
from email.message import EmailMessage
from pathlib import Path

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from deploy.caught_mail import (
    NO_SUBJECT,
    NoSuchMessage,
    StoredMessage,
    addressed_to,
    count_of_messages,
    list_messages,
    other_parts,
    raw_message,
    read_message,
    shown_headers,
    when,
)

# The demo contact whose mail server refuses their address (README, "Demo data"): the period board shows the
# invite's delivery failed, with this reply.
DEMO_REFUSED_ADDRESS = "tom@brightsparks.example"
REFUSAL = "550 5.1.1 Mailbox unavailable: no such user here"


class MailCatcher:
    def __init__(
        self,
        maildir: Path,
        host: str = "127.0.0.1",
        smtp_port: int = 1025,
        http_port: int = 8025,
        refused: Collection[str] = (),
    ):
        """`refused`: addresses whose RCPT TO is answered with REFUSAL, as a mail server without such a mailbox."""
        self.maildir = maildir
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.refused = frozenset(address.lower() for address in refused)

    async def start(self) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        handler = _MaildirDelivery(mailbox.Maildir(self.maildir, create=True), self.refused)
        http_socket = _listen(self.host, self.http_port, "HTTP")
        try:
            smtp_socket = _listen(self.host, self.smtp_port, "SMTP")
        except OSError:
            http_socket.close()
            raise
        self.http_port = http_socket.getsockname()[1]
        self.smtp_port = smtp_socket.getsockname()[1]

        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(
            # A fixed hostname spares a DNS lookup (socket.getfqdn) on every connection.
            lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="itb-mailcatcher"),
            sock=smtp_socket,
        )
        config = uvicorn.Config(
            _pages(self.maildir),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._http = _PageServer(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[http_socket]))
        while not self._http.started:
            if self._http_task.done():
                await self.stop()  # re-raises whatever ended the page server, if anything did
                raise RuntimeError("The mail catcher's page server stopped while starting; see the log above.")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        # Not wait_closed(): from Python 3.12 it also waits for idle clients to hang up.
        self._smtp.close()
        self._http.should_exit = True
        await self._http_task


class _PageServer(uvicorn.Server):
    # The catcher's owner handles SIGINT and SIGTERM; uvicorn would replace those handlers and re-raise the
    # signal once it stopped.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


class _MaildirDelivery:
    def __init__(self, box: mailbox.Maildir, refused: frozenset[str] = frozenset()):
        self._box = box
        self._refused = refused

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options) -> str:
        if address.lower() in self._refused:
            return REFUSAL
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received_for = f"X-Mail-From: {envelope.mail_from}\nX-Rcpt-To: {', '.join(envelope.rcpt_tos)}\n"
        # Maildir files are local files: lines end in LF, as any delivery agent writes them.
        self._box.add(received_for.encode() + envelope.original_content.replace(b"\r\n", b"\n"))
        return "250 Message accepted for delivery"


def _listen(host: str, port: int, protocol: str) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as error:
        raise OSError(
            f"The mail catcher cannot listen for {protocol} on {host}:{port} ({os.strerror(error.errno)}). "
            f"Stop whatever holds that port, or choose another {protocol} port."
        ) from error


def _pages(maildir: Path) -> FastAPI:
    app = FastAPI(title="Mail catcher", openapi_url=None, docs_url=None, redoc_url=None)

    @app.exception_handler(NoSuchMessage)
    def no_such_message(request: Request, error: NoSuchMessage) -> HTMLResponse:
        sentence = f"There is no message {error.number}; the catcher holds {count_of_messages(error.count)}."
        body = f'<p>{html.escape(sentence)}</p><p><a href="/">All messages</a></p>'
        return HTMLResponse(_page("No such message", body), status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def listing() -> str:
        return _listing_page(maildir, list_messages(maildir))

    @app.get("/messages/{number}", response_class=HTMLResponse)
    def message_page(number: int) -> str:
        return _message_page(number, read_message(maildir, number))

    @app.get("/messages/{number}/raw")
    def raw_message_text(number: int) -> PlainTextResponse:
        return PlainTextResponse(raw_message(maildir, number).decode(errors="replace"))

    @app.get("/api/messages")
    def messages() -> list[StoredMessage]:
        return list_messages(maildir)

    return app


def _listing_page(maildir: Path, messages: list[StoredMessage]) -> str:
    if not messages:
        return _page("Mail", f"<h1>Mail</h1><p>No mail has arrived in {html.escape(str(maildir))} yet.</p>")
    rows = "".join(
        f"<tr><td>{message.number}</td><td>{when(message.received_at)}</td>"
        f"<td>{html.escape(addressed_to(message))}</td>"
        f'<td><a href="/messages/{message.number}">{html.escape(message.subject or NO_SUBJECT)}</a></td></tr>'
        for message in reversed(messages)
    )
    table = f"<table><tr><th>#</th><th>Received</th><th>To</th><th>Subject</th></tr>{rows}</table>"
    return _page("Mail", f"<h1>Mail</h1>{table}")


def _message_page(number: int, message: EmailMessage) -> str:
    subject = str(message.get("Subject", NO_SUBJECT))
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    headers = "".join(
        f"<tr><th>{name}</th><td>{html.escape(value)}</td></tr>" for name, value in shown_headers(message)
    )
    parts = [
        f'<p><a href="/">All messages</a> · <a href="/messages/{number}/raw">Raw message</a></p>',
        f"<h1>{html.escape(subject)}</h1>",
        f"<table>{headers}</table>",
    ]
    if rich:
        parts.append(
            '<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" title="HTML part" '
            f'srcdoc="{html.escape(_links_open_in_new_tab(rich.get_content()))}"></iframe>'
        )
    if plain:
        parts.append(f"<h2>Plain text</h2><pre>{html.escape(plain.get_content())}</pre>")
    if others := other_parts(message, shown=[plain, rich]):
        parts.append(f"<p>Other parts: {html.escape(', '.join(others))}.</p>")
    return _page(subject, "".join(parts))


def _links_open_in_new_tab(document: str) -> str:
    base = '<base target="_blank">'
    with_base, found = re.subn(r"<head(\s[^>]*)?>", lambda head: head[0] + base, document, count=1, flags=re.I)
    return with_base if found else base + document


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
iframe { width: 100%; height: 60vh; border: 1px solid #ccc; margin-top: 1rem; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .8rem; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


async def _catch_until_stopped(catcher: MailCatcher) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop_signal, stopping.set)
    await catcher.start()
    refusing = f"; refusing mail to {', '.join(sorted(catcher.refused))}" if catcher.refused else ""
    print(
        f"Catching mail on {catcher.host}:{catcher.smtp_port} into {catcher.maildir}; "
        f"read it at http://{catcher.host}:{catcher.http_port}/{refusing}",
        file=sys.stderr,
    )
    try:
        await stopping.wait()
    finally:
        await catcher.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.mailcatcher", description="Catch the mail the local stack sends, and show it."
    )
    parser.add_argument("--maildir", type=Path, required=True, help="where caught messages are kept")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument(
        "--refuse",
        action="append",
        metavar="ADDRESS",
        help=f"refuse mail to this address with '{REFUSAL}' (repeatable; default: {DEMO_REFUSED_ADDRESS})",
    )
    args = parser.parse_args(argv)
    refused = [DEMO_REFUSED_ADDRESS] if args.refuse is None else [address for address in args.refuse if address]
    catcher = MailCatcher(args.maildir, args.host, args.smtp_port, args.http_port, refused)
    try:
        asyncio.run(_catch_until_stopped(catcher))
    except OSError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
