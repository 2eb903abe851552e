"""Invites by email, end to end: ERP events and an opened period in, messages out of the real SMTP server."""

import asyncio
import json
import mailbox
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
from aiosmtpd.smtp import SMTP

from deploy.mailcatcher import MailCatcher, _MaildirDelivery
from services.notifier.use_cases import schedule_reminders
from shared.contracts.base import Contact, Person
from shared.contracts.claims import ClaimTotals, ProgressClaimApproved, ProgressClaimRevisionRequested
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import BILLING_CLAIMS, BILLING_PERIODS, BILLING_RESPONSES, ERP_DIRECTORY
from shared.envelope import CloudEvent
from shared.invite_links import read_invite_token
from shared.sessions import issue_session_token
from tests.factories import erp_event, member
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


async def test_a_permanent_refusal_fails_the_delivery_and_a_refusal_for_now_is_retried_each_announced_with_the_reply(
    infrastructure, database_for, tmp_path
):
    refusing = RefusingMailServer(tmp_path / "mail", refuse="raj")
    await refusing.start()
    try:
        async with billing_round(infrastructure, database_for, smtp_port=refusing.port) as round_:
            round_.maildir = tmp_path / "mail"
            refusing.defer_once(f"mei@{round_.domain}")
            period = await open_harbour_tower_round(round_)
            [failed] = await round_.invite_events(period["id"], count=1, type_suffix="delivery_failed.v1")
            [deferred] = await round_.invite_events(period["id"], count=1, type_suffix="delivery_deferred.v1")
            await round_.wait_for_mail(3)
            await round_.settled(period["id"])
            outcomes = {
                row["contact_email"]: (row["status"], row["attempts"])
                for row in await round_.notifier_pool.fetch(
                    "SELECT i.contact_email, d.status, d.attempts FROM deliveries d JOIN invites i USING (invite_id)"
                    " WHERE i.period_id = $1",
                    uuid.UUID(period["id"]),
                )
            }
    finally:
        await refusing.stop()
    raj, mei = f"raj@{round_.domain}", f"mei@{round_.domain}"
    assert failed["data"]["contact"]["email"] == raj
    assert failed["data"]["reply"].startswith("550")
    assert outcomes[raj] == ("failed", 1)
    assert raj not in recipients(round_.mail())

    # Mei's mail server said "not now" once: the board hears the reply and when the next attempt is, and the
    # email went out on the next attempt.
    assert deferred["data"]["contact"]["email"] == mei
    assert deferred["data"]["reply"] == "451 4.7.1 Greylisted, try again later"
    assert (deferred["data"]["kind"], deferred["data"]["attempts"]) == ("invite", 1)
    assert deferred["data"]["next_attempt_at"] and deferred["data"]["deferred_at"] == "2026-11-02T03:00:00Z"
    assert outcomes[mei] == ("sent", 2)
    assert recipients(round_.mail()).count(mei) == 1


async def test_resends_go_to_the_contacts_asked_for_from_the_administrator_who_asked_until_the_due_date(
    infrastructure, database_for
):
    async with billing_round(infrastructure, database_for) as round_:
        period = await open_harbour_tower_round(round_)
        resend = f"/api/billing-periods/{period['id']}/invites/resend"
        first = await round_.wait_for_mail(4)
        sam = await publish_second_administrator(round_)

        # Alex resends one commitment's invites: the same links again, marked as resent.
        response = await round_.post(resend, {"commitment_ids": [f"{round_.project}-SC-1"]})
        assert response.status_code == 202, response.text
        assert response.json()["detail"] == "The invites for 1 commitment will be sent again."
        resent = (await round_.wait_for_mail(6))[4:]
        assert recipients(resent) == [f"jane@{round_.domain}", f"raj@{round_.domain}"]
        for message in resent:
            body = message.get_body(("plain",)).get_content()
            assert "sending this invite again" in body
            original = next(m for m in first if m["To"] == message["To"])
            assert _links(body) == _links(original.get_body(("plain",)).get_content())

        # Sam resends to Jane alone: only Jane gets it, and it comes from Sam.
        response = await post_as(round_, sam, resend, {"contact_user_ids": [round_.contact("jane")["user_id"]]})
        assert response.status_code == 202, response.text
        assert response.json()["detail"] == "The invites to 1 contact will be sent again."
        [from_sam] = (await round_.wait_for_mail(7))[6:]
        assert recipients([from_sam]) == [f"jane@{round_.domain}"]
        assert from_sam["Reply-To"] == f"Sam Second <sam@{round_.domain}>"
        assert from_sam["Subject"] == "Harbour Tower: Sam Second has invited you to bill"
        assert "Invited By:      Sam Second\n" in from_sam.get_body(("plain",)).get_content()
        assert "<strong>Invited By</strong><br>Sam Second<" in from_sam.get_body(("html",)).get_content()

        # Raj says Yes and Mei says No; a resend to those who have not answered skips both.
        sent = await round_.invite_events(period["id"], count=4)
        await answer(round_, period, _sent_to(sent, "raj"), InviteAccepted)
        await answer(round_, period, _sent_to(sent, "mei"), InviteDeclined)
        response = await round_.post(resend, {"only_not_answered": True})
        assert response.status_code == 202, response.text
        assert response.json()["detail"] == "The invites not answered yet for every commitment will be sent again."
        not_answered = (await round_.wait_for_mail(9))[7:]
        assert recipients(not_answered) == [f"jane@{round_.domain}", f"tom@{round_.domain}"]
        assert {message["Reply-To"] for message in not_answered} == {f"Alex Admin <alex@{round_.domain}>"}
        await round_.settled(period["id"])
        sent = await round_.invite_events(period["id"], count=9)

        round_.periods.app.state.clock.set(datetime(2026, 12, 5, 13, 0, tzinfo=UTC))
        late = await round_.post(resend)
    assert late.status_code == 409
    assert "has passed, so invites can no longer be resent" in late.json()["detail"]
    assert len(round_.mail()) == 9
    # InviteSent says who invited, as the email did: Alex for the invites and Alex's resends, Sam for Sam's.
    inviters = sorted(
        (event["data"]["contact"]["name"], event["data"]["resent"], event["data"]["invited_by"]["name"])
        for event in sent
    )
    assert inviters == [
        ("Jane", False, "Alex Admin"),
        ("Jane", True, "Alex Admin"),
        ("Jane", True, "Alex Admin"),
        ("Jane", True, "Sam Second"),
        ("Mei", False, "Alex Admin"),
        ("Raj", False, "Alex Admin"),
        ("Raj", True, "Alex Admin"),
        ("Tom", False, "Alex Admin"),
        ("Tom", True, "Alex Admin"),
    ]
    assert {
        event["data"]["invited_by"]["email"] for event in sent if event["data"]["invited_by"]["name"] == "Sam Second"
    } == {f"sam@{round_.domain}"}


async def publish_second_administrator(round_) -> dict:
    """Sam, a second administrator of the round's project, once the periods service knows them; the headers
    of Sam's session."""
    sam = member(
        f"{round_.project}-sam",
        project_id=round_.project,
        permission="admin",
        name="Sam Second",
        email=f"sam@{round_.domain}",
    )
    await publish_event(round_.bootstrap, ERP_DIRECTORY, sam.user_id, erp_event(sam))
    headers = {"Authorization": f"Bearer {issue_session_token(round_.periods.settings, sam.user_id, sam.email)}"}
    async with asyncio.timeout(20), httpx.AsyncClient(base_url=round_.periods.base_url) as client:
        while (await client.get(f"/api/projects/{round_.project}/billing-periods", headers=headers)).status_code != 200:
            await asyncio.sleep(0.1)
    return headers


async def post_as(round_, headers: dict, path: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=round_.periods.base_url) as client:
        return await client.post(path, json=body, headers=headers)


def _sent_to(sent: list[dict], name: str) -> dict:
    return next(event["data"] for event in sent if event["data"]["contact"]["email"].startswith(f"{name}@"))


async def answer(round_, period: dict, invite: dict, answered) -> None:
    """The contact's answer, as the responses service publishes it, once the notifier has heard it."""
    event = answered(
        invite_id=invite["invite_id"],
        period_id=period["id"],
        project_id=round_.project,
        commitment_id=invite["commitment"]["commitment_id"],
        contact=invite["contact"],
        answer="yes" if answered is InviteAccepted else "no",
        responded_at=NOW,
        due_at=invite["due_at"],
    )
    await publish_event(round_.bootstrap, BILLING_RESPONSES, invite["invite_id"], erp_event(event))
    async with asyncio.timeout(20):
        while not await round_.notifier_pool.fetchval(
            "SELECT answered FROM invites WHERE invite_id = $1", uuid.UUID(invite["invite_id"])
        ):
            await asyncio.sleep(0.1)


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
        sam = await publish_second_administrator(round_)
        jane = {"contact_user_ids": [round_.contact("jane")["user_id"]]}
        assert (await post_as(round_, sam, f"/api/billing-periods/{period['id']}/invites/resend", jane)).is_success
        await round_.wait_for_mail(5)
        sent = await round_.invite_events(period["id"], count=5)
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
        messages = await round_.wait_for_mail(8)
        await round_.settled(period["id"])
    reminders = [m for m in round_.mail() if m["Subject"].startswith("Reminder: ")]
    assert recipients(reminders) == sorted(f"{name}@{round_.domain}" for name in ("jane", "mei", "tom"))
    assert len(messages) == len(round_.mail()) == 8
    # A reminder comes from whoever sent the invite last: Sam, who resent Jane's; Alex, who opened, for the rest.
    assert {
        message["To"].addresses[0].username: message["Reply-To"].addresses[0].display_name for message in reminders
    } == {
        "jane": "Sam Second",
        "mei": "Alex Admin",
        "tom": "Alex Admin",
    }


def _links(body: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in body.splitlines() if line.startswith(("Yes: ", "No:  "))]


class RefusingMailServer:
    """An SMTP server that refuses one recipient for good (550), and keeps the rest in a Maildir."""

    def __init__(self, maildir, refuse: str):
        self._handler = _RefusingDelivery(mailbox.Maildir(maildir, create=True), refuse)
        self._server = None

    def defer_once(self, address: str) -> None:
        """Refuse the next message to `address` for now (451, as greylisting does)."""
        self._handler.defer = address

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
        self.defer: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if address.startswith(self._refuse + "@"):
            return "550 5.1.1 No such mailbox here"
        if address == self.defer:
            self.defer = None
            return "451 4.7.1 Greylisted, try again later"
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


def _review(round_, contact: str, claim_id: str, **fields) -> dict:
    """What ProgressClaimApproved and ProgressClaimRevisionRequested share, for a claim of the round's project."""
    return {
        "claim_id": claim_id,
        "period_id": str(uuid.uuid4()),
        "project_id": round_.project,
        "project_name": "Harbour Tower",
        "commitment_id": f"{round_.project}-SC-0042",
        "commitment_number": "SC-0042",
        "commitment_title": "Concrete works",
        "contact": Contact(**round_.contact(contact)),
        "reviewed_by": Person(id="alex", name="Alex Admin", email=f"alex@{round_.domain}"),
        "reviewed_at": datetime(2026, 12, 7, 2, 30, tzinfo=UTC),
        **fields,
    }


async def test_a_claim_approved_or_sent_back_emails_its_contact_once_from_the_reviewer_retrying_a_refusal_for_now(
    infrastructure, database_for, tmp_path
):
    refusing = RefusingMailServer(tmp_path / "mail", refuse="nobody")
    await refusing.start()
    try:
        async with billing_round(infrastructure, database_for, smtp_port=refusing.port) as round_:
            round_.maildir = tmp_path / "mail"
            refusing.defer_once(f"jane@{round_.domain}")
            jane_claim, raj_claim = str(uuid.uuid4()), str(uuid.uuid4())
            totals = ClaimTotals(
                currency="AUD",
                total_completed_and_stored=Decimal("20000.00"),
                retention=Decimal("2000.00"),
                total_earned_less_retention=Decimal("18000.00"),
                less_previous_claims=Decimal("5654.40"),
                current_payment_due=Decimal("12345.60"),
            )
            approved = ProgressClaimApproved(**_review(round_, "jane", jane_claim, revision=1), totals=totals)
            sent_back = ProgressClaimRevisionRequested(
                **_review(round_, "raj", raj_claim, revision=2),
                reason="Line 3 is <script>alert(1)</script> over 100% & stored twice",
                line_notes={"line-3": "<b>Check</b> the quantity"},
                resubmit_by=date(2026, 12, 10),
            )
            events = [
                CloudEvent.new(review.TYPE, "claims", review.model_dump(mode="json"))
                for review in (approved, sent_back)
            ]
            for event, review in zip(events, (approved, sent_back), strict=True):
                await publish_event(round_.bootstrap, BILLING_CLAIMS, review.claim_id, event)
            await round_.wait_for_mail(2)

            # Both again, one as it was and one under a new event id (a relay that crashed before marking it).
            again = CloudEvent.new(sent_back.TYPE, "claims", sent_back.model_dump(mode="json"))
            await publish_event(round_.bootstrap, BILLING_CLAIMS, approved.claim_id, events[0])
            await publish_event(round_.bootstrap, BILLING_CLAIMS, sent_back.claim_id, again)
            async with asyncio.timeout(20):
                while not await round_.notifier_pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", again.id):
                    await asyncio.sleep(0.1)
            rows = await round_.notifier_pool.fetch(
                "SELECT * FROM claim_review_mails WHERE claim_id = ANY($1::text[])", [jane_claim, raj_claim]
            )
    finally:
        await refusing.stop()

    assert len(rows) == 2
    rows = {row["claim_id"]: row for row in rows}
    assert sorted(message["To"].addresses[0].username for message in round_.mail()) == ["jane", "raj"]
    messages = {message["To"].addresses[0].username: message for message in round_.mail()}
    assert (rows[jane_claim]["status"], rows[jane_claim]["attempts"]) == ("sent", 2)  # refused once for now
    assert rows[jane_claim]["last_reply"] is None or rows[jane_claim]["last_reply"].startswith("451")
    assert (rows[raj_claim]["status"], rows[raj_claim]["attempts"]) == ("sent", 1)

    jane, raj = messages["jane"], messages["raj"]
    assert jane["Subject"] == "Harbour Tower: SC-0042 progress claim approved"
    assert raj["Subject"] == "Harbour Tower: SC-0042 progress claim sent back to revise"
    assert jane["Message-ID"] == f"<{jane_claim}.approved.1@invite-to-bill>"
    assert raj["Message-ID"] == f"<{raj_claim}.revise.2@invite-to-bill>"
    assert {message["Reply-To"] for message in (jane, raj)} == {f"Alex Admin <alex@{round_.domain}>"}

    jane_text = jane.get_body(("plain",)).get_content()
    assert "Alex Admin approved your progress claim (revision 1) for SC-0042 Concrete works" in jane_text
    assert "AUD 12,345.60" in jane_text
    assert f"http://127.0.0.1:8084/claims/{jane_claim}" in jane_text

    raj_text = raj.get_body(("plain",)).get_content()
    raj_html = raj.get_body(("html",)).get_content()
    assert "Line 3 is <script>alert(1)</script> over 100% & stored twice" in raj_text
    assert "- line-3: <b>Check</b> the quantity" in raj_text
    assert "by the end of 10 December 2026" in raj_text
    assert "<script>" not in raj_html and "<b>Check" not in raj_html
    assert "Line 3 is &lt;script&gt;alert(1)&lt;/script&gt; over 100% &amp; stored twice" in raj_html
    assert f'href="http://127.0.0.1:8084/claims/{raj_claim}"' in raj_html
