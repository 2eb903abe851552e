"""What events ask of the notifier, and what becomes of each email; each runs in one transaction.

An event's use case runs in the consumer's transaction (the inbox's row with it). Emails are only written
down here, as delivery rows; the mail workers (`mail.workers`) send them outside any transaction and record
the outcomes of many sends together through `delivery_outcomes` (invites', with their events) or `mail_outcomes`
(the other emails'), and each retry through `delivery_deferred` or `mail_deferred`.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.notifier import repository
from services.notifier.domain import (
    ClaimReviewMail,
    Delivery,
    LateClaimMail,
    LateClaimStep,
    PasswordMail,
    PaymentScheduleReminderMail,
    payment_schedule_remind_at,
    reminder_at,
    skip_reason,
)
from shared import outbox, payment_schedules, period_view
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.claims import (
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import (
    InviteDeliveryDeferred,
    InviteDeliveryFailed,
    InviteReminderSent,
    InviteSent,
    InviteSkipped,
)
from shared.contracts.periods import BillingPeriodOpened, InvitesResendRequested
from shared.erp import apply_commitment

log = logging.getLogger(__name__)

# --- Events ---


async def period_opened(connection: asyncpg.Connection, opened: BillingPeriodOpened) -> None:
    """Invite every contact of every invitable commitment of the project (rule 5)."""
    await repository.lock_project(connection, opened.project_id)
    await period_view.period_opened(connection, opened)
    invitable, added = [], 0  # written a few hundred commitments at a time: a round trip each costs more
    async for commitment in repository.commitments_of_project(connection, opened.project_id):
        if skip_reason(commitment["kind"], commitment["status"], len(commitment["invoice_contacts"])) is None:
            invitable.append(commitment)
            if len(invitable) == _INVITED_TOGETHER:
                added += await repository.add_invites(connection, opened.period_id, invitable, opened.opened_by)
                invitable = []
        else:
            await _invite_commitment(connection, opened.period_id, opened.project_id, commitment)
    added += await repository.add_invites(connection, opened.period_id, invitable, opened.opened_by)
    await _after_many_deliveries(connection, added)


_INVITED_TOGETHER = 200


async def _after_many_deliveries(connection: asyncpg.Connection, added: int) -> None:
    if added >= _MANY_DELIVERIES:
        await repository.refresh_delivery_statistics(connection)


_MANY_DELIVERIES = 1000


async def commitment_changed(
    connection: asyncpg.Connection, commitment: CommitmentUpserted, event_time: datetime | None, now: datetime
) -> None:
    """ERP commitments, stored by version; a newly invitable one, or a new contact, is invited (rule 8)."""
    await repository.lock_project(connection, commitment.project.id)
    if not await apply_commitment(connection, commitment, event_time):
        return
    # Someone taken off the commitment gets no more mail about it.
    await repository.cancel_deliveries_to_former_contacts(
        connection, commitment.commitment_id, [contact.user_id for contact in commitment.invoice_contacts]
    )
    stored = await repository.find_commitment(connection, commitment.commitment_id)
    for period_id in await repository.open_periods_of_project(connection, commitment.project.id, now):
        await _invite_commitment(connection, period_id, commitment.project.id, stored)


async def _invite_commitment(
    connection: asyncpg.Connection, period_id: str, project_id: str, commitment: asyncpg.Record
) -> None:
    reason = skip_reason(commitment["kind"], commitment["status"], len(commitment["invoice_contacts"]))
    if reason is None:
        await repository.add_invites(connection, period_id, [commitment])
    elif await repository.has_invites(connection, period_id, commitment["commitment_id"]):
        return  # invited already this period: a later change of status takes nothing back
    elif await repository.record_skip(connection, period_id, commitment["commitment_id"], reason):
        await outbox.record(
            connection,
            InviteSkipped(
                period_id=period_id,
                project_id=project_id,
                commitment_id=commitment["commitment_id"],
                commitment_number=commitment["number"],
                reason=reason,
            ),
        )


async def resend_requested(connection: asyncpg.Connection, request: InvitesResendRequested, request_id: str) -> None:
    """The same invites again, with the same links, marked as resent (rule 6), from whoever asked for it;
    narrowed to the commitments and contacts named, and to the invites not answered yet when asked.
    `request_id` tells this resend from another."""
    invites = await repository.invites_to_resend(
        connection,
        request.period_id,
        commitment_ids=request.commitment_ids,
        contact_user_ids=request.contact_user_ids,
        only_not_answered=request.only_not_answered,
    )
    added = await repository.add_deliveries(connection, invites, "resend", request_id, invited_by=request.requested_by)
    await _after_many_deliveries(connection, added)


async def invite_answered(connection: asyncpg.Connection, invite_id: str, declined: bool) -> None:
    """Who declined gets no reminder (rule 9); a No that became a Yes does again, until they claim. Either
    answer takes the invite out of a resend to those who have not answered."""
    await repository.record_answer(connection, invite_id, declined)


async def claim_created(connection: asyncpg.Connection, claim: ProgressClaimCreated) -> None:
    await repository.mark_claimed(connection, claim.period_id, claim.commitment_id)


async def password_link_requested(connection: asyncpg.Connection, request: PasswordLinkRequested) -> None:
    """Only the row: the password mail worker sends it after this transaction commits (docs/architecture.md)."""
    await repository.add_password_mail(connection, request)


async def claim_reviewed(
    connection: asyncpg.Connection, review: ProgressClaimApproved | ProgressClaimRevisionRequested
) -> None:
    """The contact hears that their claim was approved or sent back to revise (rule 18): only the row here; the
    claim review mail worker sends it after this transaction commits. One per revision and kind, however often
    the event comes."""
    notes = getattr(review, "line_notes", {})
    names = await repository.line_names(connection, review.commitment_id) if notes else {}
    await repository.add_claim_review_mail(connection, review, names)
    # Rule 18c: the builder answered (approval or a request to revise): no payment-schedule reminder.
    await repository.stop_payment_schedule_clock(connection, review.claim_id, review.revision)


# --- The payment-schedule clock (rule 18c) ---


async def claim_submitted(connection: asyncpg.Connection, submitted: ProgressClaimSubmitted) -> None:
    """A submission with a payment schedule due starts its clock: the administrators are reminded two business
    days before the due day (`schedule_payment_schedule_reminders`), unless a review stops it first."""
    if submitted.payment_schedule_due is None:
        return
    await repository.start_payment_schedule_clock(
        connection,
        submitted.model_dump(mode="json"),
        submitted.claim_id,
        submitted.revision,
        submitted.project_id,
        submitted.payment_schedule_due,
    )


# Two business days before a due day fall within this many calendar days of it, even across Queensland's
# Christmas shutdown (22 December to 10 January) and the weekends and holidays around it.
_REMINDER_LOOKAHEAD = timedelta(days=31)


async def schedule_payment_schedule_reminders(connection: asyncpg.Connection, now: datetime) -> int:
    """Each running clock whose reminder time has come (the morning of the business day two business days before
    the due day, in the project's time zone): one email to each administrator of the project (Admin on its
    Commitments tool, rule 19), once. The administrators rather than the period's opener: any of them may review
    the claim, and the opener may be away or gone from the project when a missed schedule makes the builder
    liable for the whole amount claimed."""
    scheduled = 0
    for clock in await repository.running_payment_schedule_clocks(connection, (now + _REMINDER_LOOKAHEAD).date()):
        region, timezone = clock["region"], clock["timezone"] or "UTC"
        # No region known (the ERP's project not here yet): two calendar days before, rather than no reminder.
        remind_on = payment_schedules.reminder_day(region, clock["due"]) or clock["due"] - timedelta(days=2)
        if now < payment_schedule_remind_at(remind_on, timezone):
            continue
        submitted = ProgressClaimSubmitted.model_validate(clock["submitted"])
        today = now.astimezone(ZoneInfo(timezone)).date()
        if today > clock["due"]:
            # Caught up too late (the notifier stopped for days): a reminder of a day gone by helps no one.
            await repository.lapse_payment_schedule_clock(connection, clock["claim_id"], clock["revision"])
            log.warning(
                "a payment schedule's due day passed before its reminder went; none is sent",
                extra={"claim_id": submitted.claim_id, "due": clock["due"].isoformat()},
            )
            continue
        act = payment_schedules.act_for(region)
        totals = submitted.totals
        reminder = {
            "claim_id": submitted.claim_id,
            "revision": submitted.revision,
            "project_name": clock["project_name"] or submitted.project_id,
            "commitment_number": clock["commitment_number"] or submitted.commitment_id,
            "commitment_title": clock["commitment_title"] or "",
            "contact_name": submitted.contact.name,
            "due": clock["due"].isoformat(),
            "business_days_left": payment_schedules.business_days_left(region, today, clock["due"]),
            "time_zone": timezone,
            "act": act.citation() if act else None,
            "amount": f"{totals.currency} {totals.current_payment_due:,.2f}",
        }
        administrators = await repository.project_administrators(connection, clock["project_id"])
        if not administrators:
            # The directory events may not have come yet: the clock keeps running, to be looked at again.
            log.warning("no administrator to remind of a payment schedule", extra={"claim_id": submitted.claim_id})
            continue
        scheduled += await repository.add_payment_schedule_reminders(connection, clock, administrators, reminder)
    return scheduled


async def late_claim_step(connection: asyncpg.Connection, step: LateClaimStep) -> None:
    """A request to claim late reaches the administrator asked; its answer, the contact (rule 18b): only the row
    here; the late claim mail worker sends it after this transaction commits. One per request and step."""
    await repository.add_late_claim_mail(connection, step)


# --- Reminders ---


async def schedule_reminders(connection: asyncpg.Connection, now: datetime) -> int:
    """Once per period, at its reminder time: a reminder to each contact who has neither declined nor
    claimed (rule 9). The flag on the period, set in the same transaction, makes it durable and single."""
    scheduled = 0
    for period in await repository.periods_to_remind(connection, now):
        if now < reminder_at(period["due_at"], period["reminder_days_before_due"], period["project_timezone"]):
            continue
        invites = await repository.invites_to_remind(connection, period["period_id"])
        scheduled += await repository.add_deliveries(connection, invites, "reminder")
        await repository.mark_reminders_scheduled(connection, period["period_id"])
    await _after_many_deliveries(connection, scheduled)
    return scheduled


# --- What became of each email ---


@dataclass(frozen=True)
class MailOutcome:
    """How one attempt at a row's email ended: sent, failed or not sent (cancelled, expired), `at` a moment of
    the service's clock; with the trace and correlation id of its send, which its event carries."""

    row: Delivery | PasswordMail | ClaimReviewMail | PaymentScheduleReminderMail | LateClaimMail
    status: str
    reply: str | None
    at: datetime
    trace_context: dict[str, str] = field(default_factory=dict)
    correlation_id: str | None = None


async def delivery_outcomes(pool: asyncpg.Pool, outcomes: list[MailOutcome]) -> None:
    """Emails about invites that ended: sent (InviteSent or InviteReminderSent), failed (InviteDeliveryFailed)
    or cancelled (no event), each with its event, all in one transaction; nothing for one that had ended
    otherwise meanwhile or whose lease was taken over (the new holder records its own)."""
    async with pool.acquire() as connection, connection.transaction():
        outcomes_of = {outcome.row.key: outcome for outcome in outcomes}
        recorded = await repository.finish_all(connection, repository.DELIVERIES, _finished(outcomes))
        entries = []
        for key in sorted(recorded):
            outcome = outcomes_of[key]
            event = _outcome_event(outcome.row, outcome.status, outcome.reply or "", outcome.at)
            if event is not None:
                entries.append(outbox.entry(event, outcome.trace_context, outcome.correlation_id))
        await outbox.record_entries(connection, entries)


async def delivery_deferred(
    pool: asyncpg.Pool, delivery: Delivery, attempts: int, delay: timedelta, reply: str, now: datetime
) -> bool:
    """The mail server refused the email for now: it is tried again after `delay`, and InviteDeliveryDeferred
    says so (with the reply) in the same transaction; nothing when the lease was lost (False), since then the
    retry was not recorded."""
    async with pool.acquire() as connection, connection.transaction():
        table = repository.DELIVERIES
        next_attempt_at = await repository.retry_later(
            connection, table, delivery.key, delivery.lease, attempts, delay, reply
        )
        if next_attempt_at is None:
            return False
        await outbox.record(
            connection,
            InviteDeliveryDeferred(
                **_about(delivery),
                kind=delivery.kind,
                reply=reply,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                deferred_at=now,
            ),
        )
        return True


def _about(delivery: Delivery) -> dict:
    """What every event about one email says of its invite."""
    invite = delivery.invite
    return {
        "invite_id": invite.invite_id,
        "period_id": invite.period_id,
        "project_id": invite.project_id,
        "commitment_id": invite.commitment.commitment_id,
        "contact": invite.contact,
    }


def _outcome_event(delivery: Delivery, status: str, reply: str, now: datetime):
    invite = delivery.invite
    about = _about(delivery)
    if status == "failed":
        return InviteDeliveryFailed(**about, kind=delivery.kind, reply=reply, failed_at=now)
    if status != "sent":
        return None
    if delivery.kind == "reminder":
        return InviteReminderSent(**about, due_at=invite.due_at, sent_at=now)
    return InviteSent(**dict(invite), sent_at=now, resent=delivery.kind == "resend")


async def mail_outcomes(pool: asyncpg.Pool, table: repository.MailTable, outcomes: list[MailOutcome]) -> None:
    """Emails other than an invite's that ended (sent, failed or not sent): on their rows only, with no event
    (their status and reply, the metrics and the log show it). Recorded only for the rows whose lease is held."""
    async with pool.acquire() as connection:
        await repository.finish_all(connection, table, _finished(outcomes))


def _finished(outcomes: list[MailOutcome]) -> list[tuple]:
    return [(outcome.row.key, outcome.row.lease, outcome.status, outcome.reply) for outcome in outcomes]


async def mail_deferred(
    pool: asyncpg.Pool, table: repository.MailTable, key, lease: uuid.UUID, attempts: int, delay: timedelta, reply: str
) -> bool:
    """An email other than an invite's tried again after `delay`; nobody is told (no event). False when the lease
    was lost."""
    async with pool.acquire() as connection:
        return await repository.retry_later(connection, table, key, lease, attempts, delay, reply) is not None
