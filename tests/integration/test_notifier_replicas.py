"""Several notifier replicas on one database share the sending by leasing rows: every email goes once, a
replica killed mid-send loses its rows to another when their leases expire (the same Message-ID goes out), and
one stopped gracefully finishes its sends in flight and gives back at once the rows it had not started.

The workers here are the notifier's own, each with a pool and a listening connection of its own, on the
session's real PostgreSQL, sending to a real SMTP server; the one killed is a whole notifier process."""

import asyncio
import contextlib
import email
import email.policy
import mailbox
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

from aiosmtpd.smtp import SMTP

from deploy.mailcatcher import _MaildirDelivery
from services.notifier import repository, use_cases
from services.notifier.mail.smtp import SmtpMailer
from services.notifier.mail.workers import InviteMailWorker
from shared.clock import Clock
from shared.contracts.base import Person
from shared.contracts.periods import BillingPeriodOpened
from shared.db import create_pool
from shared.erp import apply_commitment
from shared.metrics import ServiceMetrics
from shared.service import ServiceResources
from tests.factories import commitment
from tests.support import project_mail, service_settings, start_notifier


@dataclass(frozen=True)
class MailRound:
    """A project's invites, written straight into a notifier database as an opened period writes them."""

    project: str
    period_id: uuid.UUID

    @property
    def domain(self) -> str:
        return f"{self.project.lower()}.example"

    def contact_emails(self, count: int) -> list[str]:
        return [f"contact{n}@{self.domain}" for n in range(count)]


def new_round() -> MailRound:
    return MailRound(f"P-{uuid.uuid4().hex[:8]}", uuid.uuid4())


async def open_period(pool, round_: MailRound, contacts: int) -> None:
    """The period opened, as BillingPeriodOpened opens it: an invite and a delivery row for each contact."""
    invoice_contacts = [
        {"user_id": f"{round_.project}-{n}", "name": f"Contact {n}", "email": address}
        for n, address in enumerate(round_.contact_emails(contacts))
    ]
    now = datetime.now(UTC)
    opened = BillingPeriodOpened(
        period_id=str(round_.period_id),
        project_id=round_.project,
        project_name="Harbour Tower",
        project_timezone="Australia/Sydney",
        start_date=now.date(),
        end_date=now.date() + timedelta(days=30),
        due_date=now.date() + timedelta(days=10),
        due_at=now + timedelta(days=10),
        opened_by=Person(id=f"{round_.project}-admin", name="Alex Admin", email=f"alex@{round_.domain}"),
        opened_at=now,
    )
    record = commitment(f"{round_.project}-SC-1", project_id=round_.project, invoice_contacts=invoice_contacts)
    async with pool.acquire() as connection, connection.transaction():
        await apply_commitment(connection, record)
        await use_cases.period_opened(connection, opened)


async def deliveries_of(pool, round_: MailRound) -> list:
    return await pool.fetch(
        """
        SELECT d.* FROM deliveries d JOIN invites i USING (invite_id)
        WHERE i.period_id = $1 ORDER BY d.delivery_id
        """,
        round_.period_id,
    )


async def wait_until_sent(pool, round_: MailRound, count: int, within: float = 60) -> list:
    async with asyncio.timeout(within):
        while True:
            rows = await deliveries_of(pool, round_)
            if [row["status"] for row in rows] == ["sent"] * count:
                return rows
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def mail_worker(infrastructure, database_url: str, **settings) -> AsyncIterator[InviteMailWorker]:
    """One notifier replica's invite mail worker, with a pool and a mailer of its own."""
    settings = service_settings(infrastructure, "notifier", database_url, **settings)
    pool = await create_pool(settings.service_database_url())
    worker = InviteMailWorker(
        ServiceResources(settings, pool, Clock(), ServiceMetrics("notifier")), SmtpMailer(settings)
    )
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
        await pool.close()


def message_ids_by_recipient(messages: list[Message]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for message in messages:
        found.setdefault(message["To"].addresses[0].addr_spec, []).append(message["Message-ID"])
    return found


async def test_two_replicas_send_every_email_once_and_share_the_work(infrastructure, database_for):
    database = await database_for("notifier")
    contacts = 300
    async with (
        mail_worker(infrastructure, database.url, smtp_connections=2),
        mail_worker(infrastructure, database.url, smtp_connections=2),
    ):
        round_ = new_round()
        await open_period(database.pool, round_, contacts)
        rows = await wait_until_sent(database.pool, round_, contacts)

    messages = project_mail(infrastructure.maildir, round_.domain)
    by_recipient = message_ids_by_recipient(messages)
    assert sorted(by_recipient) == sorted(round_.contact_emails(contacts))
    assert all(len(ids) == 1 for ids in by_recipient.values()), "an email went out twice"
    assert len(messages) == contacts
    assert {ids[0] for ids in by_recipient.values()} == {row["message_id"] for row in rows}
    sent_by = {row["leased_by"] for row in rows}
    assert len(sent_by) == 2, f"both replicas should have sent some: {sent_by}"


async def test_a_replica_killed_mid_send_loses_its_rows_to_another_after_the_lease_with_the_same_message_id(
    infrastructure, database_for, tmp_path
):
    database = await database_for("notifier")
    round_ = new_round()
    server = HoldingMailServer(tmp_path / "mail", holding_for=round_.domain)
    await server.start()
    contacts = 5
    # It leases four rows at a time (one connection); it dies while the mail server holds its send of one.
    killed = start_notifier(
        infrastructure,
        database.url,
        f"notifier-{uuid.uuid4().hex[:8]}",
        SMTP_PORT=str(server.port),
        SMTP_TIMEOUT_SECONDS="5",
        MAIL_LEASE_SECONDS="8",
    )
    try:
        await open_period(database.pool, round_, contacts)
        async with asyncio.timeout(60):
            held = await server.held
        killed.send_signal(signal.SIGKILL)
        killed.wait()

        rows = await deliveries_of(database.pool, round_)
        in_flight = next(row for row in rows if row["message_id"] == held["Message-ID"])
        assert in_flight["status"] == "pending" and in_flight["lease"] is not None
        leased_by_the_killed = {row["delivery_id"]: row for row in rows if row["leased_by"] == in_flight["leased_by"]}

        async with mail_worker(infrastructure, database.url, smtp_port=server.port):
            rows = await wait_until_sent(database.pool, round_, contacts, within=90)
    finally:
        killed.kill()
        killed.wait()
        await server.stop()

    for row in rows:
        if before := leased_by_the_killed.get(row["delivery_id"]):
            # Taken over, not before the dead replica's lease had expired, under a lease of its own.
            assert row["leased_by"] != before["leased_by"] and row["lease"] != before["lease"]
            assert row["sent_at"] >= before["lease_expires_at"]
    messages = project_mail(tmp_path / "mail", round_.domain)
    by_recipient = message_ids_by_recipient(messages)
    assert sorted(by_recipient) == sorted(round_.contact_emails(contacts))
    assert all(len(ids) == 1 for ids in by_recipient.values())
    # The send that was under way when the replica died went out again as the same message.
    assert by_recipient[held["To"].addresses[0].addr_spec] == [held["Message-ID"]]


async def test_a_replica_stopped_mid_send_finishes_it_and_gives_back_at_once_what_it_had_not_started(
    infrastructure, database_for, tmp_path
):
    database = await database_for("notifier")
    round_ = new_round()
    server = HoldingMailServer(tmp_path / "mail", holding_for=round_.domain)
    await server.start()
    contacts = 6
    try:
        # One connection, four rows leased: one send held by the mail server, three waiting for the connection.
        async with mail_worker(infrastructure, database.url, smtp_port=server.port, smtp_connections=1) as stopped:
            await open_period(database.pool, round_, contacts)
            async with asyncio.timeout(30):
                held = await server.held
            stopping = asyncio.create_task(stopped.stop())
            async with asyncio.timeout(30):  # the rows not started are given back while the send is still held
                while [row["message_id"] for row in await deliveries_of(database.pool, round_) if row["lease"]] != [
                    held["Message-ID"]
                ]:
                    await asyncio.sleep(0.1)
            assert not stopping.done(), "the worker let go while its send was in flight"
            server.let_go()
            await stopping
        rows = await deliveries_of(database.pool, round_)
        [finished] = [row for row in rows if row["message_id"] == held["Message-ID"]]
        assert finished["status"] == "sent"
        assert [row["status"] for row in rows if row is not finished] == ["pending"] * (contacts - 1)
        assert len(project_mail(tmp_path / "mail", round_.domain)) == 1

        # What it gave back is free at once: another replica sends it without waiting for a lease to expire.
        async with mail_worker(infrastructure, database.url, smtp_port=server.port, mail_lease_seconds=600):
            await wait_until_sent(database.pool, round_, contacts, within=30)
    finally:
        await server.stop()
    by_recipient = message_ids_by_recipient(project_mail(tmp_path / "mail", round_.domain))
    assert sorted(by_recipient) == sorted(round_.contact_emails(contacts))
    assert all(len(ids) == 1 for ids in by_recipient.values())


async def test_a_replica_renews_the_leases_of_rows_waiting_behind_a_slow_send(infrastructure, database_for, tmp_path):
    database = await database_for("notifier")
    round_ = new_round()
    server = HoldingMailServer(tmp_path / "mail", holding_for=round_.domain)
    await server.start()
    contacts = 4
    settings = dict(smtp_port=server.port, smtp_connections=1, smtp_timeout_seconds=10, mail_lease_seconds=12)
    try:
        async with mail_worker(infrastructure, database.url, **settings):
            await open_period(database.pool, round_, contacts)
            async with asyncio.timeout(30):
                held = await server.held
            waiting = {
                row["delivery_id"]: row
                for row in await deliveries_of(database.pool, round_)
                if row["message_id"] != held["Message-ID"]
            }
            async with asyncio.timeout(30):  # each renewed, under the same lease, while the first send is held
                while not all(
                    row["status"] == "pending"
                    and row["lease"] == waiting[row["delivery_id"]]["lease"]
                    and row["lease_expires_at"] > waiting[row["delivery_id"]]["lease_expires_at"]
                    for row in await deliveries_of(database.pool, round_)
                    if row["delivery_id"] in waiting
                ):
                    await asyncio.sleep(0.1)
            server.let_go()
            rows = await wait_until_sent(database.pool, round_, contacts, within=30)
    finally:
        await server.stop()
    assert all(row["lease"] == waiting[row["delivery_id"]]["lease"] for row in rows if row["delivery_id"] in waiting)
    by_recipient = message_ids_by_recipient(project_mail(tmp_path / "mail", round_.domain))
    assert sorted(by_recipient) == sorted(round_.contact_emails(contacts))
    assert all(len(ids) == 1 for ids in by_recipient.values())


async def test_only_the_holder_of_a_rows_lease_records_its_outcome(database_for):
    database = await database_for("notifier")
    round_ = new_round()
    await open_period(database.pool, round_, contacts=1)
    async with database.pool.acquire() as connection:
        # A lease of no length has expired as soon as it is written: the second worker takes the row over.
        [first] = await repository.claim_deliveries(connection, 10, timedelta(0), "first", [])
        [second] = await repository.claim_deliveries(connection, 10, timedelta(minutes=5), "second", [])
        assert second.key == first.key and second.lease != first.lease
        assert await repository.claim_deliveries(connection, 10, timedelta(minutes=5), "third", []) == []

        table = repository.DELIVERIES
        assert not await repository.finish(connection, table, first.key, first.lease, "sent", None)
        assert not await repository.retry_later(connection, table, first.key, first.lease, 1, timedelta(0), "421")
        # Nor does it announce a retry it did not record.
        assert not await use_cases.delivery_deferred(database.pool, first, 1, timedelta(0), "421", datetime.now(UTC))
        assert not await connection.fetchval("SELECT count(*) FROM outbox WHERE event_type LIKE '%delivery_deferred%'")
        assert await repository.renew_leases(connection, table, [first.lease, second.lease], timedelta(minutes=5)) == {
            second.lease
        }
        [row] = await deliveries_of(database.pool, round_)
        assert (row["status"], row["attempts"], row["leased_by"]) == ("pending", 0, "second")

        assert await repository.finish(connection, table, second.key, second.lease, "sent", None)
    [row] = await deliveries_of(database.pool, round_)
    assert row["status"] == "sent"


class HoldingMailServer:
    """An SMTP server keeping what it receives in a Maildir, except the first message to `holding_for`: its
    sender waits for the reply (a send in flight) until `let_go`, or until it dies and the message is lost."""

    def __init__(self, maildir: Path, holding_for: str):
        self._handler = _HoldingDelivery(mailbox.Maildir(maildir, create=True), holding_for)
        self._server = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self._handler, hostname="holding"), "127.0.0.1", 0)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    @property
    def held(self) -> asyncio.Future:
        """The message held, once its sender waits."""
        return self._handler.held

    def let_go(self) -> None:
        self._handler.let_go.set()

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


class _HoldingDelivery(_MaildirDelivery):
    def __init__(self, box: mailbox.Maildir, domain: str):
        super().__init__(box)
        self._domain = domain
        self.held: asyncio.Future = asyncio.get_running_loop().create_future()
        self.let_go = asyncio.Event()

    async def handle_DATA(self, server, session, envelope) -> str:
        if not self.held.done() and any(to.endswith("@" + self._domain) for to in envelope.rcpt_tos):
            self.held.set_result(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
            await self.let_go.wait()  # cancelled when the sender's connection is lost
        return await super().handle_DATA(server, session, envelope)
