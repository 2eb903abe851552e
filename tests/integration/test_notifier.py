"""Invites by email, end to end: ERP events and an opened period in, messages out of the real SMTP server."""

import asyncio
import json
import mailbox
import uuid
from datetime import UTC, datetime

from aiosmtpd.smtp import SMTP

from deploy.mailcatcher import MailCatcher, _MaildirDelivery
from services.notifier.use_cases import schedule_reminders
from shared.contracts.responses import InviteDeclined
from shared.contracts.topics import BILLING_PERIODS, BILLING_RESPONSES
from shared.invite_links import read_invite_token
from tests.factories import erp_event
from tests.integration.billing_round import NOW, billing_round, recipients
from tests.support import publish, publish_event, topic_reader


async def open_harbour_tower_round(round_, **period_fields) -> dict:
    """ERP data with a commitment of every kind that matters, then a period opened through the API."""
    await round_.publish_administrator()
    await round_.publish_commitment("SC-1", ["jane", "raj"], status="approved")
    await round_.publish_commitment("PO-1", ["mei"], kind="purchase_order", status="approved")
    await round_.publish_commitment("SC-2", ["ana"], status="draft")
    await round_.publish_commitment("SC-3", [], status="approved")
    await round_.publish_commitment("SC-4", ["tom"], status="complete")
    await round_.wait_until_known(commitments=5)
    response = await round_.open_period(**period_fields)
    assert response.status_code == 201, response.text
    return response.json()


async def test_every_contact_of_every_invitable_commitment_gets_one_invite_and_nobody_else(
    infrastructure, database_for
):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_)
        messages = await round_.wait_for_mail(4)
        sent = await round_.invite_events(period["id"], count=4)
        skipped = await round_.invite_events(period["id"], count=2, type_suffix="skipped.v1")
        await round_.settled(period["id"])
        messages = round_.mail()

    domain = round_.domain
    assert recipients(messages) == sorted(f"{name}@{domain}" for name in ("jane", "raj", "mei", "tom"))
    assert {message["Subject"] for message in messages} == {"Harbour Tower: Alex Admin has invited you to bill"}
    assert {message["Reply-To"] for message in messages} == {f"Alex Admin <alex@{domain}>"}
    jane = next(message for message in messages if message["To"].addresses[0].username == "jane")
    text = jane.get_body(("plain",)).get_content()
    assert "1 November 2026 to 30 November 2026" in text
    assert "5 December 2026 (until the end of that day, Australia/Sydney time)" in text
    assert "Concrete Co Pty Ltd" in text

    # The links lead to the invite the email is about, on the responses service's public address.
    invite_of = {event["data"]["contact"]["email"]: event["data"]["invite_id"] for event in sent}
    yes_link = next(line for line in text.splitlines() if line.startswith("Yes: ")).removeprefix("Yes: ")
    assert yes_link.startswith("http://127.0.0.1:8083/invites/") and yes_link.endswith("?answer=yes")
    token = yes_link.removeprefix("http://127.0.0.1:8083/invites/").removesuffix("?answer=yes")
    assert read_invite_token(round_.notifier.settings, token) == invite_of[f"jane@{domain}"]

    assert {event["data"]["invited_by"]["name"] for event in sent} == {"Alex Admin"}
    assert {event["data"]["due_at"] for event in sent} == {"2026-12-05T13:00:00Z"}
    assert sorted((e["data"]["commitment_number"], e["data"]["reason"]) for e in skipped) == [
        ("SC-2", "not_approved"),
        ("SC-3", "no_contacts"),
    ]


async def test_a_redelivered_billing_period_opened_sends_nothing_new(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_)
        await round_.wait_for_mail(4)
        async with topic_reader(round_.bootstrap, BILLING_PERIODS) as reader:
            [record] = await reader.wait_for(lambda r: json.loads(r.value)["data"].get("period_id") == period["id"])
        # The same event again, and the same period under a new event id (as after a crash of the relay).
        await publish(
            round_.bootstrap,
            BILLING_PERIODS,
            period["id"],
            record.value,
            {"content-type": "application/cloudevents+json"},
        )
        copy = json.loads(record.value) | {"id": f"another-event-id-{period['id']}"}
        await publish(round_.bootstrap, BILLING_PERIODS, period["id"], json.dumps(copy).encode(), {})
        async with asyncio.timeout(20):  # the copy has been handled (after the redelivery: same partition)
            while not await round_.notifier_pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", copy["id"]):
                await asyncio.sleep(0.1)
        deliveries = await round_.notifier_pool.fetchval(
            "SELECT count(*) FROM deliveries JOIN invites USING (invite_id) WHERE period_id = $1",
            uuid.UUID(period["id"]),
        )
        assert deliveries == 4
        await round_.settled(period["id"])
        assert len(round_.mail()) == 4


async def test_invites_wait_while_the_mail_server_is_down_and_all_arrive_when_it_is_back(
    infrastructure, database_for, tmp_path, down_smtp_port
):
    port = down_smtp_port
    async with billing_round(infrastructure, database_for, smtp_port=port) as round_:
        period = await open_harbour_tower_round(round_)
        async with asyncio.timeout(20):
            while not await round_.notifier_pool.fetchval(
                "SELECT count(*) FROM deliveries JOIN invites USING (invite_id) WHERE period_id = $1 AND attempts > 0",
                uuid.UUID(period["id"]),
            ):
                await asyncio.sleep(0.1)
        assert round_.mail() == []
        catcher = MailCatcher(tmp_path / "mail", smtp_port=port, http_port=0)
        await catcher.start()
        try:
            round_.maildir = tmp_path / "mail"
            messages = await round_.wait_for_mail(4)
            await round_.settled(period["id"])
        finally:
            await catcher.stop()
    assert len(round_.mail()) == len(messages) == 4


async def test_a_permanent_refusal_marks_the_delivery_failed_and_publishes_invite_delivery_failed(
    infrastructure, database_for, tmp_path
):
    refusing = RefusingMailServer(tmp_path / "mail", refuse="raj")
    await refusing.start()
    try:
        async with billing_round(infrastructure, database_for, smtp_port=refusing.port) as round_:
            round_.maildir = tmp_path / "mail"
            period = await open_harbour_tower_round(round_)
            [failed] = await round_.invite_events(period["id"], count=1, type_suffix="delivery_failed.v1")
            await round_.wait_for_mail(3)
            status = await round_.notifier_pool.fetchval(
                """
                SELECT d.status FROM deliveries d JOIN invites i USING (invite_id)
                WHERE i.contact_email = $1
                """,
                f"raj@{round_.domain}",
            )
    finally:
        await refusing.stop()
    assert failed["data"]["contact"]["email"] == f"raj@{round_.domain}"
    assert failed["data"]["reply"].startswith("550")
    assert status == "failed"
    assert f"raj@{round_.domain}" not in recipients(round_.mail())


async def test_an_administrator_resends_the_same_invites_until_the_due_date_and_not_after(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_)
        first = await round_.wait_for_mail(4)
        response = await round_.post(
            f"/api/billing-periods/{period['id']}/invites/resend",
            {"commitment_ids": [f"{round_.project}-SC-1"]},
        )
        assert response.status_code == 202, response.text
        messages = await round_.wait_for_mail(6)
        resent = messages[4:]
        assert recipients(resent) == [f"jane@{round_.domain}", f"raj@{round_.domain}"]
        for message in resent:
            body = message.get_body(("plain",)).get_content()
            assert "sending this invite again" in body
            original = next(m for m in first if m["To"] == message["To"])
            assert _links(body) == _links(original.get_body(("plain",)).get_content())

        round_.periods.app.state.clock.set(datetime(2026, 12, 5, 13, 0, tzinfo=UTC))
        late = await round_.post(f"/api/billing-periods/{period['id']}/invites/resend")
    assert late.status_code == 409
    assert "has passed, so invites can no longer be resent" in late.json()["detail"]


async def test_a_contact_added_while_the_period_is_open_is_invited_then(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_)
        await round_.wait_for_mail(4)
        await round_.publish_commitment("SC-1", ["jane", "raj", "lee"], version=2, status="approved")
        await round_.publish_commitment("SC-2", ["ana"], version=2, status="approved")
        messages = await round_.wait_for_mail(6)
        await round_.settled(period["id"])
    assert recipients(round_.mail()[4:]) == [f"ana@{round_.domain}", f"lee@{round_.domain}"]
    assert len(messages) == 6


async def test_a_reminder_goes_once_at_its_time_to_contacts_who_have_not_declined(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_, reminder_days_before_due=2)
        await round_.wait_for_mail(4)
        sent = await round_.invite_events(period["id"], count=4)
        raj = next(event["data"] for event in sent if event["data"]["contact"]["name"] == "Raj")
        declined = InviteDeclined(
            invite_id=raj["invite_id"],
            period_id=period["id"],
            project_id=round_.project,
            commitment_id=raj["commitment"]["commitment_id"],
            contact=raj["contact"],
            answer="no",
            responded_at=NOW,
            due_at=raj["due_at"],
        )
        await publish_event(round_.bootstrap, BILLING_RESPONSES, raj["invite_id"], erp_event(declined))
        async with asyncio.timeout(20):
            while not await round_.notifier_pool.fetchval(
                "SELECT declined FROM invites WHERE invite_id = $1", uuid.UUID(raj["invite_id"])
            ):
                await asyncio.sleep(0.1)

        # The schedule, asked at given times (the worker's own clock still says November):
        # a minute before the reminder time (two days before the due instant) nothing, then once, then never.
        async def schedule_at(moment: datetime) -> int:
            async with round_.notifier_pool.acquire() as connection, connection.transaction():
                return await schedule_reminders(connection, moment)

        assert await schedule_at(datetime(2026, 12, 3, 12, 59, tzinfo=UTC)) == 0
        assert await schedule_at(datetime(2026, 12, 3, 13, 1, tzinfo=UTC)) == 3
        assert await schedule_at(datetime(2026, 12, 3, 13, 2, tzinfo=UTC)) == 0

        round_.notifier.app.state.clock.set(datetime(2026, 12, 3, 13, 1, tzinfo=UTC))
        round_.wake_notifier()
        messages = await round_.wait_for_mail(7)
        await round_.settled(period["id"])
    reminders = [m for m in round_.mail() if m["Subject"].startswith("Reminder: ")]
    assert recipients(reminders) == sorted(f"{name}@{round_.domain}" for name in ("jane", "mei", "tom"))
    assert len(messages) == len(round_.mail()) == 7


def _links(body: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in body.splitlines() if line.startswith(("Yes: ", "No:  "))]


class RefusingMailServer:
    """An SMTP server that refuses one recipient for good (550) and keeps the rest in a Maildir."""

    def __init__(self, maildir, refuse: str):
        self._handler = _RefusingDelivery(mailbox.Maildir(maildir, create=True), refuse)
        self._server = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self._handler, hostname="refusing"), "127.0.0.1", 0)

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()


async def _wait_for_delivery_of(round_, contact_email: str, status: str) -> None:
    async with asyncio.timeout(20):
        while not await round_.notifier_pool.fetchval(
            "SELECT 1 FROM deliveries JOIN invites USING (invite_id) WHERE contact_email = $1 AND status = $2",
            contact_email,
            status,
        ):
            await asyncio.sleep(0.1)


class _RefusingDelivery(_MaildirDelivery):
    def __init__(self, box: mailbox.Maildir, refuse: str):
        super().__init__(box)
        self._refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if address.startswith(self._refuse + "@"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_contact_taken_off_the_commitment_before_the_mail_goes_gets_none(
    infrastructure, database_for, tmp_path, down_smtp_port
):
    port = down_smtp_port
    async with billing_round(infrastructure, database_for, smtp_port=port) as round_:
        period = await open_harbour_tower_round(round_)
        raj = f"raj@{round_.domain}"
        await _wait_for_delivery_of(round_, raj, "pending")  # the mail server is away: it waits
        await round_.publish_commitment("SC-1", ["jane"], version=2, status="approved")  # Raj is taken off
        await _wait_for_delivery_of(round_, raj, "cancelled")
        catcher = MailCatcher(tmp_path / "mail", smtp_port=port, http_port=0)
        await catcher.start()
        try:
            round_.maildir = tmp_path / "mail"
            await round_.wait_for_mail(3)
            await round_.settled(period["id"])
        finally:
            await catcher.stop()
    assert recipients(round_.mail()) == sorted(f"{name}@{round_.domain}" for name in ("jane", "mei", "tom"))
