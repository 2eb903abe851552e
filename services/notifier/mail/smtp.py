"""Sending email over SMTP (aiosmtplib): reused connections, bounded concurrency, timeouts, STARTTLS, login.

A message is an EmailMessage, or one already in bytes (`Outgoing`, the invites). Every send happens in a turn
(`turn`), at most SMTP_CONNECTIONS at once, so a caller knows whether its send
has started or still waits for a connection. A refusal is sorted the way SMTP means it: a 4xx reply or a lost
connection is worth another try later (TemporaryFailure); a 5xx reply will not change (PermanentFailure), so
the delivery has failed.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from email.message import EmailMessage

import aiosmtplib

from services.notifier.mail.emails import Outgoing
from shared.settings import Settings


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class SmtpMailer:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.smtp_connections)
        self._idle: list[aiosmtplib.SMTP] = []

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Callable[[EmailMessage | Outgoing], Awaitable[None]]]:
        """Wait for one of the connections; what it gives sends a message on it."""
        async with self._slots:
            yield self._send

    async def _send(self, message: EmailMessage | Outgoing) -> None:
        client = await self._connection()
        try:
            try:
                await _transmit(client, message)
            except aiosmtplib.SMTPServerDisconnected:
                # The server dropped the reused connection while it was idle: once more on a new one.
                client.close()
                client = await self._connection(reuse=False)
                await _transmit(client, message)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            await _close(client)
            [reply] = refused.recipients
            raise _failure(reply.code, reply.message) from refused
        except aiosmtplib.SMTPResponseException as reply:
            await _close(client)
            raise _failure(reply.code, reply.message) from reply
        except (aiosmtplib.SMTPException, OSError) as error:
            await _close(client)
            raise TemporaryFailure(f"the mail server connection failed: {error}") from error
        self._idle.append(client)

    async def close(self) -> None:
        while self._idle:
            await _close(self._idle.pop())

    async def _connection(self, reuse: bool = True) -> aiosmtplib.SMTP:
        while reuse and self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            start_tls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as error:
            raise TemporaryFailure(
                f"cannot reach the mail server {settings.smtp_host}:{settings.smtp_port}: {error}"
            ) from error
        return client


async def _transmit(client: aiosmtplib.SMTP, message: EmailMessage | Outgoing) -> None:
    if isinstance(message, Outgoing):
        await client.sendmail(message.sender, [message.recipient], message.data)
    else:
        await client.send_message(message)


def _failure(code: int, text: str) -> Exception:
    reply = f"{code} {text}".strip()
    return PermanentFailure(reply) if 500 <= code < 600 else TemporaryFailure(reply)


async def _close(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
