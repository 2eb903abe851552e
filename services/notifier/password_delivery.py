"""The password mail worker: sends the one-time links the password_mails table holds, outside any transaction.

The row exists before the send (written by the PasswordLinkRequested handler), so a crash mid-send leaves it
pending and it is sent again after the restart with the same Message-ID. Each outcome is recorded: sent,
retried later with backoff (4xx, connection lost), failed (5xx, or an address no email can be built for),
or expired (the link would be refused by the time it is followed, so it is not sent at all).
"""

import asyncio
import contextlib
import logging
from datetime import timedelta

import asyncpg

from services.notifier.domain import RetryPolicy, may_send_password_link
from services.notifier.mailer import PermanentFailure, SmtpMailer, TemporaryFailure
from services.notifier.password_email import PasswordEmail, build_password_message
from shared.background import ListeningWorker
from shared.service import ServiceResources

log = logging.getLogger(__name__)

_DUE = """
    SELECT * FROM password_mails
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, request_id
    LIMIT $1
"""
_NEXT_DUE = """
    SELECT min(next_attempt_at) - now() FROM password_mails WHERE status = 'pending' AND next_attempt_at > now()
"""


class PasswordMailWorker(ListeningWorker):
    channel = "password_mails"
    lock_key = 0x17B0_0003

    def __init__(self, resources: ServiceResources, mailer: SmtpMailer):
        super().__init__(resources.settings.service_database_url())
        self._pool = resources.pool
        self._settings = resources.settings
        self._clock = resources.clock
        self._mailer = mailer
        # A link lasts an hour: after an outage it should go out within a minute of the mail server's return.
        self._retry = RetryPolicy(
            first_delay_seconds=resources.settings.smtp_retry_first_delay_seconds, max_delay_seconds=60
        )
        # A batch as large as the mailer sends at once: a slow mail server holds up no more than that.
        self._batch = resources.settings.smtp_connections

    async def work(self, connection: asyncpg.Connection) -> timedelta | None:
        rows = await connection.fetch(_DUE, self._batch)
        settled = await asyncio.gather(*(self._deliver(row) for row in rows))
        if len(rows) == self._batch and all(settled):
            return timedelta(0)  # a full batch: more may be due now
        # Backoff is wall-clock time (the database's); whether a link has expired follows the service clock.
        return await connection.fetchval(_NEXT_DUE)

    async def _deliver(self, row: asyncpg.Record) -> bool:
        """False when the attempt broke off unexpectedly: the row waits its turn to be tried again, behind the
        others, so that it cannot hold them up."""
        try:
            await self._attempt(row)
        except Exception as error:
            log.exception("password mail attempt failed", extra={"request_id": row["request_id"]})
            with contextlib.suppress(Exception):  # the database may be what failed; the safety poll comes back
                await self._retry_later(row, f"unexpected error: {error}")
            return False
        return True

    async def _attempt(self, row: asyncpg.Record) -> None:
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
            await self._retry_later(row, str(failure))
        except PermanentFailure as failure:
            log.warning("password mail failed", extra=about | {"reply": str(failure)})
            await self._finish(row, "failed", str(failure))
        else:
            await self._finish(row, "sent", None)

    async def _retry_later(self, row: asyncpg.Record, reply: str) -> None:
        attempts = row["attempts"] + 1
        await self._pool.execute(
            """
            UPDATE password_mails SET attempts = $2, next_attempt_at = now() + $3, last_reply = $4
            WHERE request_id = $1 AND status = 'pending'
            """,
            row["request_id"],
            attempts,
            self._retry.delay(attempts),
            reply,
        )

    async def _finish(self, row: asyncpg.Record, status: str, reply: str | None) -> None:
        await self._pool.execute(
            """
            UPDATE password_mails SET status = $2, last_reply = $3, attempts = attempts + 1,
                sent_at = CASE WHEN $2 = 'sent' THEN now() END
            WHERE request_id = $1 AND status = 'pending'
            """,
            row["request_id"],
            status,
            reply,
        )


def _password_email(row: asyncpg.Record) -> PasswordEmail:
    return PasswordEmail(
        request_id=row["request_id"],
        message_id=row["message_id"],
        name=row["name"],
        email=row["email"],
        expires_at=row["expires_at"],
    )
