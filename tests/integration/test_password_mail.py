"""One-time password links by email: PasswordLinkRequested on `accounts` in, a message out of the real SMTP
server, with the notifier on the session's real broker and PostgreSQL."""

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from deploy.mailcatcher import MailCatcher
from services.notifier.app import definition as notifier
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.topics import ACCOUNTS
from shared.envelope import CloudEvent
from shared.password_links import read_password_link_token
from tests.integration.test_notifier import RefusingMailServer
from tests.support import mail_to, publish, publish_event, running_service, service_settings, wait_for_mail_to


@dataclass
class PasswordMails:
    """A notifier under test, and a domain of its own for the addresses its tests send to."""

    notifier: object
    pool: object
    maildir: Path
    bootstrap: str
    domain: str

    def request(self, name: str = "jane", expires_in: timedelta = timedelta(hours=1)) -> PasswordLinkRequested:
        now = datetime.now(UTC)
        return PasswordLinkRequested(
            request_id=str(uuid.uuid4()),
            user_id=f"U-{name}-{self.domain}",
            name=name.title(),
            email=f"{name}@{self.domain}",
            requested_at=now,
            expires_at=now + expires_in,
        )

    async def publish(self, request: PasswordLinkRequested) -> CloudEvent:
        event = CloudEvent.new(PasswordLinkRequested.TYPE, "urn:invite-to-bill:claims", request.model_dump(mode="json"))
        await publish_event(self.bootstrap, ACCOUNTS, request.user_id, event)
        return event

    def mail(self) -> list[EmailMessage]:
        return mail_to(self.maildir, self.domain)

    async def wait_for_mail(self, count: int, within: float = 30) -> list[EmailMessage]:
        return await wait_for_mail_to(self.maildir, self.domain, count, within)

    async def wait_for_status(self, request_id: str, status: str, within: float = 30) -> None:
        async with asyncio.timeout(within):
            while await self.status(request_id) != status:
                await asyncio.sleep(0.1)

    async def status(self, request_id: str) -> str | None:
        return await self.pool.fetchval("SELECT status FROM password_mails WHERE request_id = $1", request_id)


@contextlib.asynccontextmanager
async def password_mails(infrastructure, database_for, maildir: Path | None = None, **notifier_settings):
    database = await database_for("notifier")
    settings = service_settings(
        infrastructure, "notifier", database.url, smtp_retry_first_delay_seconds=0.3, **notifier_settings
    )
    async with running_service(notifier, settings) as service:
        yield PasswordMails(
            service,
            database.pool,
            maildir or infrastructure.maildir,
            infrastructure.bootstrap_servers,
            f"pw-{uuid.uuid4().hex[:8]}.example",
        )


def link_in(message: EmailMessage) -> str:
    [link] = [line for line in message.get_body(("plain",)).get_content().splitlines() if "/password/" in line]
    return link


async def test_a_requested_password_link_is_emailed_and_its_token_is_the_request(infrastructure, database_for):
    async with password_mails(infrastructure, database_for) as mails:
        request = mails.request()
        await mails.publish(request)
        [message] = await mails.wait_for_mail(1)
        await mails.wait_for_status(request.request_id, "sent")

    assert message["Subject"] == "Set your Invite to Bill password"
    assert message["To"] == f"Jane <jane@{mails.domain}>"
    assert message["Message-ID"] == f"<{request.request_id}.password@invite-to-bill>"
    link = link_in(message)
    assert link.startswith(f"{mails.notifier.settings.claims_public_url}/password/")
    assert read_password_link_token(mails.notifier.settings, link.rsplit("/", 1)[1]) == (
        request.request_id,
        request.email,
    )
    assert "Hello Jane," in message.get_body(("html",)).get_content()


async def test_a_redelivered_request_sends_nothing_new(infrastructure, database_for):
    async with password_mails(infrastructure, database_for) as mails:
        request = mails.request()
        event = await mails.publish(request)
        await mails.wait_for_mail(1)
        await mails.wait_for_status(request.request_id, "sent")
        # The same event again, then the same request under a new event id (as after a crash of the relay).
        # Same key, same partition: once the copy is in the inbox, the redelivery before it was handled too.
        value, headers = event.to_structured()
        await publish(mails.bootstrap, ACCOUNTS, request.user_id, value, headers)
        copy = await mails.publish(request)
        async with asyncio.timeout(20):
            while not await mails.pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", copy.id):
                await asyncio.sleep(0.1)
        rows = await mails.pool.fetch("SELECT status FROM password_mails WHERE email = $1", request.email)
        assert [row["status"] for row in rows] == ["sent"]  # one row, already sent: nothing left to send again


async def test_an_expired_request_sends_nothing(infrastructure, database_for):
    async with password_mails(infrastructure, database_for) as mails:
        request = mails.request(expires_in=-timedelta(minutes=1))
        await mails.publish(request)
        await mails.wait_for_status(request.request_id, "expired")
        reply = await mails.pool.fetchval(
            "SELECT last_reply FROM password_mails WHERE request_id = $1", request.request_id
        )
    assert reply == "the link expired before it could be sent"
    assert mails.mail() == []


async def test_a_permanent_refusal_marks_the_mail_failed_with_the_reply(infrastructure, database_for, tmp_path):
    refusing = RefusingMailServer(tmp_path / "mail", refuse="nobody")
    await refusing.start()
    try:
        async with password_mails(
            infrastructure, database_for, maildir=tmp_path / "mail", smtp_port=refusing.port
        ) as mails:
            request = mails.request("nobody")
            await mails.publish(request)
            await mails.wait_for_status(request.request_id, "failed")
            reply = await mails.pool.fetchval(
                "SELECT last_reply FROM password_mails WHERE request_id = $1", request.request_id
            )
    finally:
        await refusing.stop()
    assert reply.startswith("550")
    assert mails.mail() == []


async def test_a_password_mail_waits_while_the_mail_server_is_down_and_goes_when_it_is_back(
    infrastructure, database_for, tmp_path, down_smtp_port
):
    port = down_smtp_port
    async with password_mails(infrastructure, database_for, maildir=tmp_path / "mail", smtp_port=port) as mails:
        request = mails.request()
        await mails.publish(request)
        async with asyncio.timeout(20):
            while not await mails.pool.fetchval(
                "SELECT attempts FROM password_mails WHERE request_id = $1 AND status = 'pending'",
                request.request_id,
            ):
                await asyncio.sleep(0.1)
        catcher = MailCatcher(tmp_path / "mail", smtp_port=port, http_port=0)
        await catcher.start()
        try:
            [message] = await mails.wait_for_mail(1)
            await mails.wait_for_status(request.request_id, "sent")
        finally:
            await catcher.stop()
    assert (
        read_password_link_token(mails.notifier.settings, link_in(message).rsplit("/", 1)[1]).request_id
        == request.request_id
    )
