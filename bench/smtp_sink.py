"""The benchmark's SMTP server: accepts every message over real SMTP, counts it, and throws it away.

    python -m bench.smtp_sink --smtp-port PORT --control-port PORT [--keep-links 300]

It keeps no messages, only counts per recipient domain (each benchmark project mails a domain of its own) and
the time the last message to each domain was accepted, on the machine's monotonic clock (CLOCK_MONOTONIC on
Linux, the same in every process, so the orchestrator can compare it with its own `time.monotonic()`). From the
first `--keep-links` messages of each domain (to recipients whose address starts with `--links-to`) it keeps
the invite link and the recipient, so that the benchmark can answer invites as a contact would, through the
link in their email.

The orchestrator reads the figures over HTTP on the control port: `GET /stats` (JSON: the total, and per domain
the count and the time of the last accepted message) and `GET /links/<domain>` (JSON: [recipient, link] pairs).
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import re
import time
from collections import defaultdict

from aiosmtpd.smtp import SMTP, Envelope, Session

_INVITE_LINK = re.compile(r"https?://\S+/invites/[^\s?\"<>]+")


class CountingHandler:
    def __init__(self, keep_links: int, links_to: str = ""):
        self.total = 0
        self.counts: dict[str, int] = defaultdict(int)
        self.last_accepted: dict[str, float] = {}
        self.links: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._keep_links = keep_links
        self._links_to = links_to

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.monotonic()
        self.total += 1
        domains = {recipient.rpartition("@")[2].lower() for recipient in envelope.rcpt_tos}
        for domain in domains:
            self.counts[domain] += 1
            self.last_accepted[domain] = now
            if self._wanted_link(domain, envelope) and (link := _invite_link(envelope.original_content)):
                self.links[domain].append((envelope.rcpt_tos[0], link))
        return "250 OK"

    def _wanted_link(self, domain: str, envelope: Envelope) -> bool:
        return len(self.links[domain]) < self._keep_links and envelope.rcpt_tos[0].startswith(self._links_to)

    def stats(self) -> dict:
        return {
            "total": self.total,
            "domains": {
                domain: {"count": count, "last_accepted": self.last_accepted[domain]}
                for domain, count in self.counts.items()
            },
        }


def _invite_link(content: bytes) -> str | None:
    """The invite link in the message's plain text (decoded: quoted-printable may split a long link)."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    plain = message.get_body(preferencelist=("plain",))
    if plain is None:
        return None
    found = _INVITE_LINK.search(plain.get_content())
    return found.group(0) if found else None


async def _answer_control(handler: CountingHandler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """One HTTP/1.0-style request on the control port, answered with JSON and the connection closed."""
    try:
        request_line = (await reader.readline()).decode("latin-1").split()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # the headers: nothing in them matters here
        path = request_line[1] if len(request_line) > 1 else "/"
        if path == "/stats":
            status, body = "200 OK", handler.stats()
        elif path.startswith("/links/"):
            status, body = "200 OK", handler.links.get(path.removeprefix("/links/").lower(), [])
        else:
            status, body = "404 Not Found", {"detail": "ask for /stats or /links/<domain>"}
        payload = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
    finally:
        writer.close()


async def serve(smtp_port: int, control_port: int, keep_links: int, links_to: str) -> None:
    handler = CountingHandler(keep_links, links_to)
    loop = asyncio.get_running_loop()
    # A fixed hostname spares a DNS lookup (socket.getfqdn) on every connection.
    smtp = await loop.create_server(lambda: SMTP(handler, hostname="itb-bench-sink"), "127.0.0.1", smtp_port)
    control = await asyncio.start_server(
        lambda reader, writer: _answer_control(handler, reader, writer), "127.0.0.1", control_port
    )
    async with smtp, control:
        await asyncio.gather(smtp.serve_forever(), control.serve_forever())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--keep-links", type=int, default=300, help="invite links kept per recipient domain")
    parser.add_argument("--links-to", default="", help="keep the links of recipients whose address starts so only")
    arguments = parser.parse_args()
    # aiosmtpd logs every connection and command at INFO: at thousands a second that costs more than the work.
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(serve(arguments.smtp_port, arguments.control_port, arguments.keep_links, arguments.links_to))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
