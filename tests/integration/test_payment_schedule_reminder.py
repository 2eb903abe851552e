"""The payment-schedule reminder (rule 18c) in the notifier over real Kafka, PostgreSQL and SMTP: a claim
submitted on a project in AU-NSW is reminded to the project's administrators two business days before its payment
schedule is due, once; a claim approved before then is not, nor one approved while its reminder waits to go, nor
one whose due day passed while the notifier was away."""

import asyncio
import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.notifier.use_cases import schedule_payment_schedule_reminders
from shared.contracts.base import Contact, Person
from shared.contracts.claims import ClaimTotals, ProgressClaimApproved, ProgressClaimSubmitted
from shared.contracts.topics import BILLING_CLAIMS
from shared.envelope import CloudEvent
from tests.integration.billing_round import billing_round
from tests.support import publish_event

DUE = date(2026, 12, 4)  # 10 business days (NSW Act s 14(4)(b)(ii)) after Friday 20 November 2026
TOTALS = ClaimTotals(
    currency="AUD",
    total_completed_and_stored=Decimal("20000.00"),
    retention=Decimal("1000.00"),
    total_earned_less_retention=Decimal("19000.00"),
    less_previous_claims=Decimal("0.00"),
    current_payment_due=Decimal("19000.00"),
)


def submitted(round_, claim_id: str, contact: str) -> ProgressClaimSubmitted:
    return ProgressClaimSubmitted(
        claim_id=claim_id,
        period_id=str(uuid.uuid4()),
        project_id=round_.project,
        commitment_id=f"{round_.project}-SC-0042",
        contact=Contact(**round_.contact(contact)),
        submitted_by=Contact(**round_.contact(contact)).as_person,
        submitted_at=datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
        totals=TOTALS,
        payment_schedule_due=DUE,
    )


async def publish(round_, event) -> None:
    envelope = CloudEvent.new(event.TYPE, "claims", event.model_dump(mode="json"))
    await publish_event(round_.bootstrap, BILLING_CLAIMS, event.claim_id, envelope)


def approved(round_, claim_id: str, contact: str) -> ProgressClaimApproved:
    return ProgressClaimApproved(
        claim_id=claim_id,
        period_id=str(uuid.uuid4()),
        project_id=round_.project,
        project_name="Harbour Tower",
        commitment_id=f"{round_.project}-SC-0042",
        commitment_number="SC-0042",
        commitment_title="Formwork and concrete",
        contact=Contact(**round_.contact(contact)),
        reviewed_by=Person(id=f"{round_.project}-admin", name="Alex Admin", email=f"alex@{round_.domain}"),
        reviewed_at=datetime(2026, 11, 24, tzinfo=UTC),
        revision=1,
        totals=TOTALS,
    )


async def publish_nsw_project(round_, contacts: list[str]) -> None:
    """The administrator, and a commitment with `contacts` on a project in New South Wales."""
    await round_.publish_administrator()
    project = {
        "id": round_.project,
        "name": "Harbour Tower",
        "timezone": "Australia/Sydney",
        "currency": "AUD",
        "company_name": "Acme Builders Pty Ltd",
        "region": "AU-NSW",
    }
    await round_.publish_commitment("SC-0042", contacts, status="approved", project=project)


async def until_clocks(round_, running: list[str], stopped: list[str] = ()) -> None:
    """Until the notifier has the clocks of these claims in these states, and the project's region and members."""
    pool = round_.notifier_pool
    async with asyncio.timeout(20):
        while (
            await pool.fetchval(
                """
                SELECT count(*) FILTER (WHERE claim_id = ANY($1) AND status = 'running')
                     + count(*) FILTER (WHERE claim_id = ANY($2) AND status = 'stopped')
                FROM payment_schedule_clocks
                """,
                running,
                list(stopped),
            )
            != len(running) + len(stopped)
            or not await pool.fetchval("SELECT 1 FROM erp_project_members WHERE project_id = $1", round_.project)
            or not await pool.fetchval("SELECT region FROM erp_projects WHERE project_id = $1", round_.project)
        ):
            await asyncio.sleep(0.1)


async def schedule_at(round_, moment: datetime) -> int:
    """The reminders the notifier writes when it looks at `moment` (the worker's own clock still says November)."""
    async with round_.notifier_pool.acquire() as connection, connection.transaction():
        return await schedule_payment_schedule_reminders(connection, moment)


# Two business days before Friday 4 December is Wednesday 2 December, 08:00 in Sydney: 21:00 UTC the day before.
REMIND_AT = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)


async def test_the_administrators_are_reminded_two_business_days_before_the_payment_schedule_is_due_once(
    infrastructure, database_for
):
    async with billing_round(infrastructure, database_for) as round_:
        await publish_nsw_project(round_, ["jane", "raj"])
        jane_claim, raj_claim = str(uuid.uuid4()), str(uuid.uuid4())
        await publish(round_, submitted(round_, jane_claim, "jane"))
        await publish(round_, submitted(round_, raj_claim, "raj"))
        # Raj's claim is approved before the reminder: its clock stops.
        await publish(round_, approved(round_, raj_claim, "raj"))
        await until_clocks(round_, running=[jane_claim], stopped=[raj_claim])

        # A minute before nothing, then once, then never again.
        assert await schedule_at(round_, REMIND_AT - timedelta(minutes=1)) == 0
        assert await schedule_at(round_, REMIND_AT + timedelta(minutes=1)) == 1
        assert await schedule_at(round_, REMIND_AT + timedelta(minutes=2)) == 0

        round_.wake_notifier()
        messages = await round_.wait_for_mail(2)  # Raj's email that his claim was approved, and the reminder
        async with asyncio.timeout(20):
            while await round_.notifier_pool.fetchval("SELECT status FROM payment_schedule_reminder_mails") != "sent":
                await asyncio.sleep(0.1)
    [message] = [message for message in messages if message["To"].addresses[0].username == "alex"]
    assert message["Subject"] == "Harbour Tower: payment schedule for SC-0042 due 4 December 2026"
    text = message.get_body(("plain",)).get_content()
    assert "Jane's progress claim (revision 1)" in text and "2 business days left" in text
    assert "Building and Construction Industry Security of Payment Act 1999 (NSW), s 14(4)(b)(ii)" in text
    assert "AUD 19,000.00" in text and f"/claims/{jane_claim}" in text
    # Nothing more: no reminder for Raj's approved claim.
    assert sorted(m["To"].addresses[0].username for m in round_.mail()) == ["alex", "raj"]


class HeldMailer:
    """The reminder worker's mailer, holding its turn (as a busy mail server does) until released."""

    def __init__(self, mailer):
        self._mailer = mailer
        self.waiting, self.released, self.done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    @contextlib.asynccontextmanager
    async def turn(self):
        self.waiting.set()
        await self.released.wait()
        try:
            async with self._mailer.turn() as send:
                yield send
        finally:
            self.done.set()


async def test_a_reminder_waiting_for_a_connection_when_its_claim_is_approved_does_not_go(infrastructure, database_for):
    async with billing_round(infrastructure, database_for) as round_:
        await publish_nsw_project(round_, ["jane"])
        claim = str(uuid.uuid4())
        await publish(round_, submitted(round_, claim, "jane"))
        await until_clocks(round_, running=[claim])
        [worker] = [w for w in round_.notifier.app.state.workers if type(w).__name__ == "PaymentScheduleReminderWorker"]
        worker._mailer = held = HeldMailer(worker._mailer)
        assert await schedule_at(round_, REMIND_AT) == 1
        round_.wake_notifier()
        async with asyncio.timeout(20):
            await held.waiting.wait()  # leased, and waiting for a connection

        await publish(round_, approved(round_, claim, "jane"))
        async with asyncio.timeout(20):
            while await round_.notifier_pool.fetchval("SELECT status FROM payment_schedule_reminder_mails") != (
                "cancelled"
            ):
                await asyncio.sleep(0.1)
        held.released.set()
        async with asyncio.timeout(20):
            await held.done.wait()
        await round_.wait_for_mail(1)  # Jane's email that her claim was approved

    assert [m["To"].addresses[0].username for m in round_.mail()] == ["jane"]
    assert await round_.notifier_pool.fetchval("SELECT status FROM payment_schedule_reminder_mails") == "cancelled"


async def test_a_clock_whose_due_day_passed_while_the_notifier_was_away_ends_without_a_reminder(
    infrastructure, database_for
):
    async with billing_round(infrastructure, database_for) as round_:
        await publish_nsw_project(round_, ["jane"])
        claim = str(uuid.uuid4())
        await publish(round_, submitted(round_, claim, "jane"))
        await until_clocks(round_, running=[claim])

        # First looked at on Saturday 5 December in Sydney, the day after the due day.
        assert await schedule_at(round_, datetime(2026, 12, 4, 14, 0, tzinfo=UTC)) == 0
        pool = round_.notifier_pool
        assert await pool.fetchval("SELECT status FROM payment_schedule_clocks WHERE claim_id = $1", claim) == "lapsed"
        assert await pool.fetchval("SELECT count(*) FROM payment_schedule_reminder_mails") == 0
