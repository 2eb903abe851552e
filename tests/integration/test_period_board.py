"""The period board built by the periods service from the real broker's events, into its real database: events
out of order and twice give the board they would in order, an unknown type is passed by, a malformed event goes
to the dead letters and the events after it are still taken in."""

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.periods.app import definition as periods
from services.periods.use_cases.board import board_as_of, board_of_period, board_version
from services.periods.use_cases.periods import open_billing_period
from shared.contracts.base import Contact, PublishedEvent
from shared.contracts.claims import (
    ClaimAttemptRejected,
    ClaimTotals,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.invites import InviteDeliveryDeferred, InviteDeliveryFailed, InviteReminderSent, InviteSkipped
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import BILLING_CLAIMS, BILLING_INVITES, BILLING_RESPONSES, dead_letter_topic
from shared.envelope import SOURCE_PREFIX, CloudEvent
from shared.erp import apply_commitment, apply_member_upserted
from shared.errors import NotAllowed, NotFound
from tests.factories import commitment, erp_event, invite_sent, member
from tests.support import publish, publish_event, running_service, service_settings, topic_reader

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
T = datetime(2026, 11, 20, tzinfo=UTC)
LATER = datetime(2026, 11, 25, tzinfo=UTC)


@dataclass
class Round:
    """A project of the test's own with its period open, and the events the board is to hear about it."""

    bootstrap: str
    project: str
    period_id: str = ""

    def contact(self, name: str) -> Contact:
        return Contact(
            user_id=f"{self.project}-{name}", name=name.title(), email=f"{name}@{self.project.lower()}.example"
        )

    def commitment_id(self, number: str) -> str:
        return f"{self.project}-{number}"

    def about(self, number: str, name: str) -> dict:
        """The fields every invite or answer event of that contact on that commitment carries."""
        return {
            "invite_id": f"invite-{self.project}-{number}-{name}",
            "period_id": self.period_id,
            "project_id": self.project,
            "commitment_id": self.commitment_id(number),
            "contact": self.contact(name),
        }

    def envelope(self, event: PublishedEvent, time: datetime | None = None) -> CloudEvent:
        """As the publisher's outbox wraps it (shared/outbox.py), at `time` if given."""
        return CloudEvent.new(
            event.TYPE,
            SOURCE_PREFIX + event.PUBLISHER,
            event.model_dump(mode="json"),
            subject=event.aggregate_id,
            time=time,
        )

    async def publish(self, envelope: CloudEvent, topic: str) -> None:
        await publish_event(self.bootstrap, topic, envelope.subject, envelope)


@pytest.fixture
async def project(infrastructure, database_for):
    """The project's ERP records and its open period, in a database of its own (the service is not started)."""
    database = await database_for("periods")
    project = f"P-{uuid.uuid4().hex[:8]}"
    the_round = Round(infrastructure.bootstrap_servers, project)
    jane, ann, carl, bob = (the_round.contact(name) for name in ("jane", "ann", "carl", "bob"))
    async with database.pool.acquire() as connection:
        records = [
            commitment(
                the_round.commitment_id("SC-1"),
                project_id=project,
                number="SC-1",
                invoice_contacts=[jane.model_dump(), ann.model_dump(), carl.model_dump()],
            ),
            commitment(
                the_round.commitment_id("SC-2"),
                project_id=project,
                number="SC-2",
                status="draft",
                invoice_contacts=[bob.model_dump()],
            ),
            commitment(the_round.commitment_id("PO-3"), project_id=project, number="PO-3", invoice_contacts=[]),
        ]
        for record in records:
            await apply_commitment(connection, record)
        people = [
            member("U-1", project_id=project, permission="admin", name="Alex Admin", email="alex@acme.example"),
            member(jane.user_id, project_id=project, permission="read_only", name=jane.name, email=jane.email),
            member(carl.user_id, project_id=project, permission="standard", name=carl.name, email=carl.email),
        ]  # Ann is no member of the project: she has no permission
        for person in people:
            await apply_member_upserted(connection, person, erp_event(person))
    period = await open_billing_period(
        database.pool,
        user_id="U-1",
        project_id=project,
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        reminder_days_before_due=None,
        now=NOW,
    )
    the_round.period_id = period.id
    return the_round, database


@pytest.fixture
async def service(project, infrastructure):
    """The periods service on the session's broker, taking in the board's events for the project's period."""
    the_round, database = project
    async with running_service(periods, service_settings(infrastructure, "periods", database.url)):
        yield the_round, database.pool


async def board_when(pool, period_id: str, shows, within: float = 30):
    """The board once `shows(board)` holds; the test fails after `within` seconds with the last board seen."""
    board = None
    try:
        async with asyncio.timeout(within):
            while not shows(board := await board_of_period(pool, user_id="U-1", period_id=period_id, now=LATER)):
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"the board never showed what was expected; last seen: {board}")
    return board


def row(board, number: str, name: str):
    [section] = [section for section in board.sections if section.number == number]
    [found] = [row for row in section.rows if row.contact.name == name.title()]
    return found


async def test_the_board_takes_in_events_out_of_order_and_twice_passes_unknown_ones_and_survives_a_malformed_one(
    service, infrastructure
):
    the_round, pool = service
    jane, carl = the_round.about("SC-1", "jane"), the_round.about("SC-1", "carl")
    sent = the_round.envelope(invite_sent(**_invite_fields(jane), sent_at=T))
    older_deferral = the_round.envelope(
        InviteDeliveryDeferred(
            **jane,
            kind="invite",
            reply="421 4.3.2 Try later",
            attempts=1,
            next_attempt_at=T,
            deferred_at=T - timedelta(hours=1),
        )
    )
    reminder = InviteReminderSent(**jane, due_at=DUE_AT, sent_at=T + timedelta(days=1))
    declined = the_round.envelope(
        InviteDeclined(**jane, answer="no", responded_at=T + timedelta(hours=2), due_at=DUE_AT)
    )
    accepted = the_round.envelope(
        InviteAccepted(**jane, answer="yes", responded_at=T + timedelta(hours=3), due_at=DUE_AT)
    )
    claim = {key: value for key, value in jane.items() if key != "invite_id"} | {
        "claim_id": f"claim-{the_round.project}"
    }
    created = the_round.envelope(
        ProgressClaimCreated(
            **claim,
            created_by=jane["contact"].as_person,
            on_behalf=False,
            cause="invite_accepted",
            created_at=T + timedelta(hours=3),
        )
    )
    submitted = the_round.envelope(
        ProgressClaimSubmitted(
            **claim,
            submitted_by=jane["contact"].as_person,
            submitted_at=T + timedelta(days=2),
            totals=ClaimTotals(
                currency="AUD",
                total_completed_and_stored=Decimal("12500.00"),
                retention=Decimal("625.00"),
                total_earned_less_retention=Decimal("11875.00"),
                less_previous_claims=Decimal("0.00"),
                current_payment_due=Decimal("11875.00"),
            ),
        )
    )
    skip = the_round.envelope(
        InviteSkipped(
            period_id=the_round.period_id,
            project_id=the_round.project,
            commitment_id=the_round.commitment_id("PO-3"),
            commitment_number="PO-3",
            reason="no_contacts",
        ),
        time=NOW,  # the notifier skips it when the period opens; the event has no time of its own but this
    )

    # Newest first: the claim's submission before its creation, the Yes before the No, the send after them and a
    # deferral older than the send after it; the send and the submission twice under the same id, the reminder
    # twice under new ids (the same reminder).
    await the_round.publish(submitted, BILLING_CLAIMS)
    await the_round.publish(created, BILLING_CLAIMS)
    await the_round.publish(submitted, BILLING_CLAIMS)
    for _ in range(2):
        await the_round.publish(the_round.envelope(reminder), BILLING_INVITES)
    await the_round.publish(accepted, BILLING_RESPONSES)
    await the_round.publish(declined, BILLING_RESPONSES)
    await the_round.publish(sent, BILLING_INVITES)
    await the_round.publish(older_deferral, BILLING_INVITES)
    await the_round.publish(sent, BILLING_INVITES)
    await the_round.publish(skip, BILLING_INVITES)

    # On Carl's invite's partition: a type the board does not know, a malformed InviteDeliveryFailed, then the
    # send and its failure, which are still taken in.
    key = carl["invite_id"]
    trace = {"x-trace": the_round.project}
    unknown = CloudEvent.new(
        "billing.invite.opened.v1", SOURCE_PREFIX + "notifier", {**_json(carl), "opened_at": T.isoformat()}
    )
    value, headers = unknown.to_structured()
    await publish(the_round.bootstrap, BILLING_INVITES, key, value, {**headers, **trace, "x-kind": "unknown"})
    malformed = CloudEvent.new(InviteDeliveryFailed.TYPE, SOURCE_PREFIX + "notifier", {**_json(carl), "reply": 550})
    value, headers = malformed.to_structured()
    await publish(the_round.bootstrap, BILLING_INVITES, key, value, {**headers, **trace, "x-kind": "malformed"})
    await the_round.publish(the_round.envelope(invite_sent(**_invite_fields(carl), sent_at=T)), BILLING_INVITES)
    failure = InviteDeliveryFailed(
        **carl, kind="invite", reply="550 5.1.1 No such user", failed_at=T + timedelta(minutes=1)
    )
    await the_round.publish(the_round.envelope(failure), BILLING_INVITES)

    board = await board_when(
        pool,
        the_round.period_id,
        lambda board: (
            row(board, "SC-1", "jane").claim_status == "submitted"
            and row(board, "SC-1", "jane").answer == "yes"
            and row(board, "SC-1", "jane").reminders_sent == 1
            and row(board, "SC-1", "jane").invited_at is not None  # her InviteSent taken in, not only her Yes
            and row(board, "SC-1", "jane").claim_created_at is not None  # the creation too, not only the submission
            and row(board, "SC-1", "carl").delivery == "failed"
            and board.sections[-1].number == "SC-2"
            and any(section.number == "PO-3" for section in board.sections)
            and board.as_of == T + timedelta(days=2)
        ),
    )
    jane_row = row(board, "SC-1", "jane")
    assert (jane_row.invited_at, jane_row.invited_by.name, jane_row.not_invited_reason) == (T, "Alex Admin", None)
    assert (jane_row.delivery, jane_row.delivery_reply) == ("sent", None)
    assert (jane_row.answer, jane_row.answered_at) == ("yes", T + timedelta(hours=3))
    assert jane_row.reminders_sent == 1
    assert (jane_row.claim_status, jane_row.current_payment_due) == ("submitted", Decimal("11875.00"))
    carl_row = row(board, "SC-1", "carl")
    assert (carl_row.delivery, carl_row.delivery_reply) == ("failed", "550 5.1.1 No such user")
    ann_row = row(board, "SC-1", "ann")
    assert (ann_row.invited, ann_row.not_invited_reason, ann_row.delivery) == (False, "no_permission", "not_sent")
    [po_3] = [section for section in board.sections if section.number == "PO-3"]
    assert (po_3.not_invited_reason, po_3.rows) == ("no_contacts", [])
    sc_2 = board.sections[-1]
    assert (sc_2.not_invited_reason, [r.not_invited_reason for r in sc_2.rows]) == ("draft", ["draft"])
    totals = board.totals
    assert (totals.invited, totals.answered_yes, totals.answered_no, totals.not_answered) == (2, 1, 0, 1)
    assert (totals.claims_submitted, totals.delivery_failures) == (1, 1)
    assert board.currency == "AUD"
    assert await board_as_of(pool, user_id="U-1", period_id=the_round.period_id) == board.as_of

    async with topic_reader(the_round.bootstrap, dead_letter_topic("periods")) as dead_letters:
        [dead] = await dead_letters.wait_for(lambda record: ("x-trace", the_round.project.encode()) in record.headers)
        # The unknown type came before it on the same partition and was passed by, not sent to the dead letters.
        assert dict(dead.headers)["x-kind"] == b"malformed"
        assert b"reply" in dict(dead.headers)["dlq-error"]
        assert [r for r in await dead_letters.drain(1) if ("x-trace", the_round.project.encode()) in r.headers] == [
            dead
        ]

    # Heard again once all is in: the send under its id and the reminder under a new one (on the invite's
    # partition, the reminder after the send) change nothing.
    once_more = the_round.envelope(reminder)
    await the_round.publish(sent, BILLING_INVITES)
    await the_round.publish(once_more, BILLING_INVITES)
    async with asyncio.timeout(20):
        while not await pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", once_more.id):
            await asyncio.sleep(0.1)
    again = await board_of_period(pool, user_id="U-1", period_id=the_round.period_id, now=LATER)
    assert again.totals == board.totals and row(again, "SC-1", "jane") == jane_row

    # An event older than the newest arriving late changes the board but not its `as_of`: the version a page
    # polls changes all the same.
    version = await board_version(pool, user_id="U-1", period_id=the_round.period_id)
    late_attempt = the_round.envelope(
        ClaimAttemptRejected(
            period_id=the_round.period_id,
            project_id=the_round.project,
            commitment_id=the_round.commitment_id("SC-1"),
            attempted_by=carl["contact"].as_person,
            attempt="create",
            reason="due_date_passed",
            due_at=T + timedelta(days=10),
            attempted_at=T + timedelta(hours=1),
        )
    )
    await the_round.publish(late_attempt, BILLING_CLAIMS)
    later = await board_when(pool, the_round.period_id, lambda board: row(board, "SC-1", "carl").late_attempt_at)
    assert later.as_of == board.as_of
    assert await board_version(pool, user_id="U-1", period_id=the_round.period_id) != version

    # Jane's claim reviewed (issue 11): revision 2 approved heard before revision 1 sent back; the approval stands.
    review = claim | {
        "project_name": "Harbour Tower",
        "commitment_number": "SC-1",
        "commitment_title": "Concrete",
        "reviewed_by": {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"},
    }
    approved = ProgressClaimApproved(
        **review, reviewed_at=T + timedelta(days=4), revision=2, totals=submitted.data["totals"]
    )
    revise = ProgressClaimRevisionRequested(
        **review, reviewed_at=T + timedelta(days=3), revision=1, reason="Line 3 <b>over</b>", resubmit_by=DUE_AT.date()
    )
    revise_heard = the_round.envelope(revise)
    await the_round.publish(the_round.envelope(approved), BILLING_CLAIMS)
    await the_round.publish(revise_heard, BILLING_CLAIMS)
    async with asyncio.timeout(20):
        while not await pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", revise_heard.id):
            await asyncio.sleep(0.1)
    reviewed = await board_of_period(pool, user_id="U-1", period_id=the_round.period_id, now=LATER)
    assert reviewed.as_of == T + timedelta(days=4)
    jane_row = row(reviewed, "SC-1", "jane")
    assert (jane_row.claim_status, jane_row.claim_revision, jane_row.reviewed_by.name) == ("approved", 2, "Alex Admin")
    assert (reviewed.totals.claims_submitted, reviewed.totals.claims_approved) == (1, 1)


async def test_the_board_is_for_the_projects_administrators_and_an_unknown_period_is_not_found(project):
    the_round, database = project
    pool = database.pool
    with pytest.raises(NotAllowed, match="Admin permission on the Commitments tool"):
        await board_of_period(pool, user_id=the_round.contact("jane").user_id, period_id=the_round.period_id, now=LATER)
    with pytest.raises(NotAllowed):
        await board_as_of(pool, user_id="U-404", period_id=the_round.period_id)
    for period_id in ("not-a-period", str(uuid.uuid4()), "x" * 10_000):
        with pytest.raises(NotFound, match="There is no billing period with id"):
            await board_of_period(pool, user_id="U-1", period_id=period_id, now=LATER)
        with pytest.raises(NotFound):
            await board_as_of(pool, user_id="U-1", period_id=period_id)
    empty = await board_of_period(pool, user_id="U-1", period_id=the_round.period_id, now=LATER)
    assert empty.as_of is None
    assert [section.number for section in empty.sections] == ["PO-3", "SC-1", "SC-2"]
    assert all(row.delivery in ("waiting", "not_sent") for section in empty.sections for row in section.rows)


def _invite_fields(about: dict) -> dict:
    return {
        "invite_id": about["invite_id"],
        "period_id": about["period_id"],
        "project_id": about["project_id"],
        "commitment_id": about["commitment_id"],
        "contact": about["contact"].model_dump(),
    }


def _json(about: dict) -> dict:
    return {**about, "contact": about["contact"].model_dump()}
