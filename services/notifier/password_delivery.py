"""The password mail worker: sends the one-time links the password_mails table holds (see `mail_worker`).

The row is written by the PasswordLinkRequested handler. Each outcome is recorded: sent, retried later with
backoff (4xx, connection lost), failed (5xx, or an address no email can be built for), or expired (the link
would be refused by the time it is followed, so it is not sent at all).
"""

import logging

import asyncpg

from services.notifier.domain import RetryPolicy, may_send_password_link
from services.notifier.mail_worker import MailWorker
from services.notifier.mailer import PermanentFailure, SmtpMailer, TemporaryFailure
from services.notifier.password_email import PasswordEmail, build_password_message
from shared.service import ServiceResources

log = logging.getLogger(__name__)

_PENDING = """
    SELECT * FROM password_mails
    WHERE status = 'pending' AND next_attempt_at <= now() AND NOT request_id = ANY($2::text[])
    ORDER BY next_attempt_at, request_id
    LIMIT $1
"""


class PasswordMailWorker(MailWorker):
    channel = "password_mails"
    lock_key = 0x17B0_0003
    table = "password_mails"
    key = "request_id"

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        # A link lasts an hour: after an outage it should go out within a minute of the mail server's return.
        retry = RetryPolicy(first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds, max_delay_seconds=60)
        super().__init__(resources, mailer, retry)

    async def pending(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[asyncpg.Record]:
        return await connection.fetch(_PENDING, limit, in_flight)

    async def attempt(self, row: asyncpg.Record) -> None:
        about = {"request_id": row["request_id"]}
        now = self._clock()
        if not may_send_password_link(row["expires_at"], now):
            await self._finish(row, "expired", "the link expired before it could be sent")
            return
        try:
            message = build_password_message(_password_email(row), self._settings, now)
        except Exception as error:
            # A message that cannot be built never will be (an address no email can carry, say): fail it.
            log.warning("password mail could not be built", extra=about | {"error": str(error)})
            await self._finish(row, "failed", f"the email could not be built: {error}")
            return
        try:
            await self._mailer.send(message)
        except TemporaryFailure as failure:
            log.warning("password mail will be retried", extra=about | {"reply": str(failure)})
            await self.retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("password mail failed", extra=about | {"reply": str(failure)})
            await self._finish(row, "failed", str(failure))
        else:
            await self._finish(row, "sent", None)

    async def _finish(self, row: asyncpg.Record, status: str, reply: str | None) -> None:
        async with self._pool.acquire() as connection:
            await self.mark(connection, row, status, reply)


def _password_email(row: asyncpg.Record) -> PasswordEmail:
    return PasswordEmail(
        request_id=row["request_id"],
        message_id=row["message_id"],
        name=row["name"],
        email=row["email"],
        expires_at=row["expires_at"],
    )
