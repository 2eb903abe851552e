"""What a person or an event asks of claims, for the pages, the API and the subscribers alike; each refusal says
why, in full sentences.

Contacts create, fill in and submit their claims before the due date (rules 15, 16); administrators create a
claim on a contact's behalf and fill it in while the period exists. Who is which is rule 19
(`domain.role_for`). A contact's refused attempt after the due date is announced (ClaimAttemptRejected) in a
transaction of its own, so that the refusal does not take the announcement back with it.

An event's use case runs in the consumer's transaction (the inbox's row with it); a person's opens its own.
Whoever asks for a claim, it comes to be one way (`_create_claim`).
"""

import logging
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import NoReturn

import asyncpg

from services.claims.domain import claims as domain
from services.claims.domain import money
from services.claims.domain.claims import (
    ClaimRecord,
    ClaimView,
    Commitment,
    DesignatedCommitment,
    NewClaim,
    OnBehalf,
    Period,
    Refusal,
    Role,
)
from services.claims.repository import claims as repository
from shared import outbox, payment_schedules
from shared.contracts.base import Contact, Person
from shared.contracts.claims import (
    ClaimAttemptRejected,
    ClaimTotals,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.erp import apply_commitment, commitments_permission, find_person, require_permission
from shared.errors import Conflict, InvalidRequest, NotAllowed, NotFound

log = logging.getLogger(__name__)


class NotArrivedYet(Exception):
    """The period or the commitment has not reached this service yet (topics are not ordered)."""


class ClaimExists(Conflict):
    """The commitment has its claim of the period already (rule 14); `claim_id` is that claim."""

    def __init__(self, message: str, claim_id: str):
        super().__init__(message)
        self.claim_id = claim_id


@dataclass(frozen=True)
class InvitesAndClaims:
    """What "My invites and claims" shows: the invites still to answer, the claims made for the person, and the
    commitments they are a contact of, from which a claim can be made without an invite (rule 16)."""

    invites: list[asyncpg.Record]
    claims: list[asyncpg.Record]
    commitments: list[DesignatedCommitment]


# --- Events ---


async def invite_sent(connection: asyncpg.Connection, sent: InviteSent) -> None:
    await repository.add_invite(connection, sent)


async def invite_declined(connection: asyncpg.Connection, declined: InviteDeclined) -> None:
    await repository.remember_answer(connection, declined.invite_id, "no")


async def invite_accepted(connection: asyncpg.Connection, accepted: InviteAccepted) -> None:
    """A Yes before the due date makes the draft claim (rule 14); after it, the attempt is refused (rule 15)."""
    await repository.remember_answer(connection, accepted.invite_id, "yes")
    contact = accepted.contact
    if domain.due_date_has_passed(accepted.due_at, accepted.responded_at):
        await _reject_attempt(
            connection,
            period_id=accepted.period_id,
            project_id=accepted.project_id,
            commitment_id=accepted.commitment_id,
            attempted_by=contact.as_person,
            attempt="invite_accepted",
            due_at=accepted.due_at,
            now=accepted.responded_at,
        )
        return
    await repository.lock_commitment(connection, accepted.commitment_id)
    if await repository.commitment_known(connection, accepted.commitment_id):
        await _claim_for_acceptance(connection, accepted)
    else:
        # The commitment's schedule of values has not reached us: the claim is made when it does.
        await repository.wait_for_commitment(connection, accepted)


async def commitment_upserted(
    connection: asyncpg.Connection, commitment: CommitmentUpserted, event_time: datetime | None
) -> None:
    """Store the commitment (by version), then make the claims of acceptances that were waiting for it."""
    await repository.lock_commitment(connection, commitment.commitment_id)
    await apply_commitment(connection, commitment, event_time)
    for accepted in await repository.take_waiting_acceptances(connection, commitment.commitment_id):
        await _claim_for_acceptance(connection, accepted)


async def _claim_for_acceptance(connection: asyncpg.Connection, accepted: InviteAccepted) -> None:
    contact = accepted.contact
    await _create_claim(
        connection,
        period_id=accepted.period_id,
        project_id=accepted.project_id,
        commitment_id=accepted.commitment_id,
        contact=contact,
        created_by=contact.as_person,
        cause="invite_accepted",
        now=accepted.responded_at,
    )


# --- What a person does with claims ---


async def my_invites_and_claims(pool: asyncpg.Pool, user_id: str, now: datetime) -> InvitesAndClaims:
    """The user's invites that can still be answered, the claims made for them, and their commitments."""
    async with pool.acquire() as connection:
        invites = [
            invite
            for invite in await repository.invites_of(connection, user_id)
            if domain.still_to_answer(invite["answer"], invite["due_at"], invite["closed"], now)
        ]
        return InvitesAndClaims(
            invites=invites,
            claims=await repository.my_claims(connection, user_id),
            commitments=await repository.designated_commitments(connection, user_id),
        )


async def new_claim(pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, now: datetime) -> NewClaim:
    """What creating the claim would do, for the page that asks to confirm it. It changes nothing and announces
    nothing (rule 10: mail scanners open links). After the due date a contact gets the page with its refusal and
    whom to ask (rule 15); in a closed period, the refusal alone."""
    async with pool.acquire() as connection:
        new = await _new_claim(connection, user_id, period_id, commitment_id, now)
        if new.existing_claim_id is None and new.refusal == "period_closed":
            raise _refusal_problem(new.refusal, new.commitment)
        if new.existing_claim_id is None and new.refusal == "due_date_passed":
            invited_by = await repository.inviter(connection, period_id, commitment_id, user_id)
            return replace(new, ask=domain.whom_to_ask(invited_by, new.period))
    return new


async def open_new_claim(pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, now: datetime) -> str:
    """The claim for the commitment and period, created when the user may still make it (rule 16); asked twice,
    it is the same claim."""
    async with pool.acquire() as connection:
        async with connection.transaction():
            new = await _new_claim(connection, user_id, period_id, commitment_id, now)
            if new.existing_claim_id is not None:
                return new.existing_claim_id
            if new.refusal is None:
                claim_id = await _claim_asked_by(
                    connection, user_id, period_id, new.commitment, new.contact, "claim_page", now
                )
                # Another request may have made it a moment ago; then it is that one.
                return claim_id or (await repository.find_claim_for(connection, period_id, commitment_id)).claim_id
        await _refuse(connection, new.refusal, new.period, new.commitment, user_id, "create", now)


async def _new_claim(
    connection: asyncpg.Connection, user_id: str, period_id: str, commitment_id: str, now: datetime
) -> NewClaim:
    period, commitment = await _period_and_commitment(connection, period_id, commitment_id)
    role = await _require_role(connection, user_id, commitment)
    existing = await repository.find_claim_for(connection, period_id, commitment_id)
    if existing is not None:
        return NewClaim(period, commitment, existing.contact, existing.claim_id, refusal=None)
    contact = commitment.contact(user_id)
    if contact is None:  # an administrator, who makes claims for a named contact
        raise NotFound(
            f"No progress claim has been made for {commitment.number} in this billing period yet. As an "
            "administrator you can create one on a contact's behalf from the period board (Create a claim for "
            "this contact)."
        )
    domain.require_billable(commitment)
    refusal = domain.contact_refusal(period.due_at, period.closed, now) if role == "contact" else None
    late = None
    if refusal is not None:  # an allowed request to claim late lifts the due date's refusal (rule 18b)
        late = await repository.latest_late_request(connection, period_id, commitment_id, user_id)
        refusal = domain.late_refusal(refusal, late, user_id, commitment, period, now)
    return NewClaim(period, commitment, contact, existing_claim_id=None, refusal=refusal, late=late)


async def on_behalf(
    pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, contact_user_id: str, now: datetime
) -> OnBehalf:
    """What `create_on_behalf` would make, for the page that confirms it; it changes nothing (rule 10)."""
    async with pool.acquire() as connection:
        asked = await _on_behalf(connection, user_id, period_id, commitment_id, contact_user_id)
    return replace(asked, due_date_passed=domain.due_date_has_passed(asked.period.due_at, now))


async def create_on_behalf(
    pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, contact_user_id: str, now: datetime
) -> ClaimView:
    """An administrator's claim for a named contact, at any time while the period exists (rule 15);
    ClaimExists when the commitment has its claim of the period already."""
    async with pool.acquire() as connection, connection.transaction():
        asked = await _on_behalf(connection, user_id, period_id, commitment_id, contact_user_id)
        commitment = asked.commitment
        claim_id = asked.existing_claim_id or await _claim_asked_by(
            connection, user_id, period_id, commitment, asked.contact, "administrator", now
        )
        if claim_id is None or claim_id == asked.existing_claim_id:
            existing = await repository.find_claim_for(connection, period_id, commitment_id)
            raise ClaimExists(
                f"{commitment.number} already has a progress claim for this billing period ({existing.claim_id}); "
                "there is one claim per commitment per period.",
                claim_id=existing.claim_id,
            )
        return await _view(connection, await repository.find_claim(connection, claim_id), user_id, now)


async def _on_behalf(
    connection: asyncpg.Connection, user_id: str, period_id: str, commitment_id: str, contact_user_id: str
) -> OnBehalf:
    period = await repository.find_period(connection, period_id)
    if period is None:
        raise NotFound(f"There is no billing period {period_id[:100]}.")
    commitment = await repository.find_commitment(connection, commitment_id)
    if commitment is None or commitment.project_id != period.project_id:
        raise NotFound(f"There is no commitment {commitment_id[:100]} on the project of billing period {period_id}.")
    if await _role_on(connection, user_id, commitment) != "administrator":
        raise NotAllowed(
            f"You need Admin permission on the Commitments tool of project {commitment.project_id} to create "
            "a claim on a contact's behalf; ask the project's administrator to grant it."
        )
    administrator = await _person(connection, user_id)
    existing = await repository.find_claim_for(connection, period_id, commitment_id)
    if existing is not None:  # the claim there is, whoever it was made for (rule 14)
        return OnBehalf(period, commitment, existing.contact, administrator, existing.claim_id)
    domain.require_billable(commitment)
    contact = commitment.contact(contact_user_id)
    if contact is None:
        raise InvalidRequest(
            f"{contact_user_id} is not a progress claim contact of {commitment.number}; choose one of: "
            + ", ".join(f"{c.user_id} ({c.name})" for c in commitment.contacts)
            + "."
        )
    return OnBehalf(period, commitment, contact, administrator, existing_claim_id=None)


async def view_claim(pool: asyncpg.Pool, user_id: str, claim_id: str, now: datetime) -> ClaimView:
    async with pool.acquire() as connection:
        claim = await repository.find_claim(connection, claim_id)
        if claim is None:
            raise NotFound("There is no such progress claim.")
        return await _view(connection, claim, user_id, now)


async def change_claim(
    pool: asyncpg.Pool, user_id: str, claim_id: str, typed: dict[str, tuple[str, str]], submit: bool, now: datetime
) -> ClaimView:
    """Save what was typed, and submit the claim when asked (rule 18); FieldErrors when an amount cannot be."""
    async with pool.acquire() as connection:
        async with connection.transaction():
            await repository.lock_claim(connection, claim_id)  # a second click waits, then finds it submitted
            claim = await repository.find_claim(connection, claim_id)
            if claim is None:
                raise NotFound("There is no such progress claim.")
            view = await _view(connection, claim, user_id, now)
            if submit and claim.status == "under_review":
                return view  # submitted by the click before this one
            if view.can_edit:
                return await _save(connection, view, user_id, typed, submit, now)
            if view.refusal is None or claim.status not in domain.EDITABLE_STATUSES:
                status = domain.STATUS_NAMES[claim.status].lower()
                raise Conflict(f"This claim is {status} and can no longer be changed.")
        await _refuse(
            connection, view.refusal, view.period, view.commitment, user_id, "submit" if submit else "save", now
        )


async def claims_of_period(pool: asyncpg.Pool, user_id: str, period_id: str, now: datetime) -> list[ClaimView]:
    return (await period_review(pool, user_id, period_id, now)).claims


async def _save(
    connection: asyncpg.Connection,
    view: ClaimView,
    user_id: str,
    typed: dict[str, tuple[str, str]],
    submit: bool,
    now: datetime,
) -> ClaimView:
    claim, commitment = view.claim, view.commitment
    if submit:
        domain.require_billable(commitment)
    entered = domain.parse_amounts(typed, commitment)
    lines, previously_earned = await _line_inputs(connection, claim, commitment, view.period, entered)
    domain.refuse_over_claims(lines)
    await repository.save_lines(connection, claim.claim_id, entered, now)
    worked_out = money.work_out(lines, commitment.retention_percent, previously_earned)
    if submit:
        submitted_by = await _person(connection, user_id)
        revision = await repository.mark_submitted(
            connection, claim.claim_id, worked_out, commitment.currency, submitted_by, now
        )
        await _announce_submission(connection, claim, commitment, worked_out, submitted_by, revision, now)
    return await _view(connection, await repository.find_claim(connection, claim.claim_id), user_id, now)


async def _view(connection: asyncpg.Connection, claim: ClaimRecord, user_id: str, now: datetime) -> ClaimView:
    period = await repository.find_period(connection, claim.period_id)
    commitment = await repository.find_commitment(connection, claim.commitment_id)
    if period is None or commitment is None:
        raise NotArrivedYet()
    role = await _require_role(connection, user_id, commitment)
    lines, previously_earned = await _line_inputs(connection, claim, commitment, period)
    refusal = domain.claim_refusal(claim.status, claim.resubmit_by, period, commitment.timezone, now)
    late = None
    if role == "contact" and refusal == "due_date_passed":  # rule 18b: unless claiming late is allowed
        late = await repository.latest_late_request(connection, period.period_id, commitment.commitment_id, user_id)
        refusal = domain.late_refusal(refusal, late, user_id, commitment, period, now)
    ask = None
    if role == "contact" and refusal == "due_date_passed":
        invited_by = await repository.inviter(connection, period.period_id, commitment.commitment_id, user_id)
        ask = domain.whom_to_ask(invited_by, period)
    days_left = None
    if claim.payment_schedule_due is not None:
        today = domain.local_today(now, commitment.timezone)
        days_left = payment_schedules.business_days_left(commitment.region, today, claim.payment_schedule_due)
    return ClaimView(
        claim=claim,
        commitment=commitment,
        period=period,
        role=role,
        refusal=refusal,
        worked_out=money.work_out(lines, commitment.retention_percent, previously_earned),
        ask=ask,
        payment_schedule_days_left=days_left,
        late=late,
    )


async def _line_inputs(
    connection: asyncpg.Connection,
    claim: ClaimRecord,
    commitment: Commitment,
    period: Period,
    entered: dict[str, tuple[Decimal, Decimal]] | None = None,
) -> tuple[list[money.LineInput], Decimal]:
    """The claim's lines (with `entered` in place of what is saved), and what the previous claim earned."""
    previous = await repository.previous_claims(connection, commitment.commitment_id, period.start_date)
    return domain.line_inputs(claim, commitment, previous, entered), previous.earned_less_retention


async def _period_and_commitment(
    connection: asyncpg.Connection, period_id: str, commitment_id: str
) -> tuple[Period, Commitment]:
    period = await repository.find_period(connection, period_id)
    commitment = await repository.find_commitment(connection, commitment_id)
    if period is None or commitment is None:
        raise NotArrivedYet()
    if commitment.project_id != period.project_id:
        raise NotFound("This commitment is not on the project of this billing period; check the link.")
    return period, commitment


async def _role_on(connection: asyncpg.Connection, user_id: str, commitment: Commitment) -> Role | None:
    permission = await commitments_permission(connection, user_id, commitment.project_id)
    return domain.role_for(permission, commitment.contact(user_id) is not None)


async def _require_role(connection: asyncpg.Connection, user_id: str, commitment: Commitment) -> Role:
    role = await _role_on(connection, user_id, commitment)
    if role is None:
        raise NotAllowed(
            f"You cannot see or make progress claims for {commitment.number}: that needs Read Only (or higher) "
            f"permission on the Commitments tool of {commitment.project_name} and being a progress claim contact "
            f"of the commitment. Ask {commitment.contractor} to add you."
        )
    return role


async def _refuse(
    connection: asyncpg.Connection,
    refusal: Refusal,
    period: Period,
    commitment: Commitment,
    user_id: str,
    attempt: str,
    now: datetime,
) -> NoReturn:
    """Refuse a contact's attempt, announcing it first when the due date has passed (rule 15); after the day to
    resubmit by, the refusal alone (rule 18: it is no new claim)."""
    if refusal in ("period_closed", "resubmit_by_passed"):
        raise _refusal_problem(refusal, commitment)
    async with connection.transaction():
        await _reject_attempt(
            connection,
            period_id=period.period_id,
            project_id=period.project_id,
            commitment_id=commitment.commitment_id,
            attempted_by=await _person(connection, user_id),
            attempt=attempt,
            due_at=period.due_at,
            now=now,
        )
    raise _refusal_problem(refusal, commitment)


def _refusal_problem(refusal: Refusal, commitment: Commitment) -> Conflict:
    if refusal == "resubmit_by_passed":
        return Conflict(
            "The day to resubmit this claim by has passed, so it can no longer be changed or resubmitted. Ask the "
            f"administrator of {commitment.project_name} who sent it back to send it back again with a later day."
        )
    if refusal == "period_closed":
        return Conflict(
            f"This billing period is closed, so no progress claim can be made for it. Ask {commitment.contractor} "
            "about the next billing period."
        )
    return Conflict(
        "The due date for this billing period has passed, so no progress claim can be created or submitted. "
        f"Ask {commitment.contractor} to create the claim on your behalf."
    )


async def _person(connection: asyncpg.Connection, user_id: str) -> Person:
    person = await find_person(connection, user_id)
    if person is None:
        raise NotAllowed("Your account is not known on any project; ask the contractor to add you.")
    return person


async def _claim_asked_by(
    connection: asyncpg.Connection,
    user_id: str,
    period_id: str,
    commitment: Commitment,
    contact: Contact,
    cause: str,
    now: datetime,
) -> str | None:
    """A claim a person asks for (the contact, or an administrator on their behalf); see `_create_claim`."""
    return await _create_claim(
        connection,
        period_id=period_id,
        project_id=commitment.project_id,
        commitment_id=commitment.commitment_id,
        contact=contact,
        created_by=await _person(connection, user_id),
        cause=cause,
        now=now,
    )


# --- Review (rule 18): the project's administrators approve a submitted claim or send it back ---


@dataclass(frozen=True)
class PeriodReview:
    """The review page of a period: the period, and its claims (submitted or not) as each now stands."""

    period: Period
    claims: list[ClaimView]


async def period_review(pool: asyncpg.Pool, user_id: str, period_id: str, now: datetime) -> PeriodReview:
    """The period and its claims, for the project's administrators only (rule 19)."""
    async with pool.acquire() as connection:
        period = await repository.find_period(connection, period_id)
        if period is None:
            raise NotFound(f"There is no billing period {period_id}.")
        await require_permission(connection, user_id, period.project_id, "admin")
        claims = await repository.claims_of_period(connection, period_id)
        return PeriodReview(period=period, claims=[await _view(connection, claim, user_id, now) for claim in claims])


async def approve(pool: asyncpg.Pool, user_id: str, claim_id: str, now: datetime) -> ClaimView:
    """An administrator approves the submitted claim's revision (rule 18), announced (ProgressClaimApproved);
    approved already (a second click), it is the claim as it is."""
    async with pool.acquire() as connection, connection.transaction():
        view, reviewer = await _claim_to_review(connection, user_id, claim_id, now)
        if view.claim.status == "approved":
            return view
        domain.require_under_review(view.claim.status)
        claim, commitment, worked_out = view.claim, view.commitment, view.worked_out
        await repository.mark_approved(
            connection, claim.claim_id, claim.revision, worked_out, commitment.currency, reviewer, now
        )
        log.info("progress claim approved", extra={"claim_id": claim.claim_id, "revision": claim.revision})
        await outbox.record(
            connection,
            ProgressClaimApproved(
                **_reviewed(view, reviewer, now),
                totals=ClaimTotals(currency=commitment.currency, **worked_out.totals()),
            ),
        )
        return await _view(connection, await repository.find_claim(connection, claim_id), user_id, now)


async def request_revision(
    pool: asyncpg.Pool,
    user_id: str,
    claim_id: str,
    reason: str,
    line_notes: dict[str, str],
    resubmit_by: date | None,
    now: datetime,
) -> ClaimView:
    """An administrator sends the submitted claim back to its contact with a reason, notes per line and the day
    to resubmit by (rule 18), announced (ProgressClaimRevisionRequested); FieldErrors when one cannot be taken."""
    async with pool.acquire() as connection, connection.transaction():
        view, reviewer = await _claim_to_review(connection, user_id, claim_id, now)
        domain.require_under_review(view.claim.status)
        request = domain.check_revision_request(reason, line_notes, resubmit_by, view.commitment, now)
        claim = view.claim
        await repository.mark_sent_back(connection, claim.claim_id, claim.revision, request, reviewer, now)
        log.info("progress claim sent back to revise", extra={"claim_id": claim.claim_id, "revision": claim.revision})
        await outbox.record(
            connection,
            ProgressClaimRevisionRequested(
                **_reviewed(view, reviewer, now),
                reason=request.reason,
                line_notes=request.line_notes,
                resubmit_by=request.resubmit_by,
            ),
        )
        return await _view(connection, await repository.find_claim(connection, claim_id), user_id, now)


async def _claim_to_review(
    connection: asyncpg.Connection, user_id: str, claim_id: str, now: datetime
) -> tuple[ClaimView, Person]:
    """The claim, locked (a second click waits, then finds it reviewed), and its reviewer: an administrator of
    the project (rule 19)."""
    await repository.lock_claim(connection, claim_id)
    claim = await repository.find_claim(connection, claim_id)
    if claim is None:
        raise NotFound("There is no such progress claim.")
    view = await _view(connection, claim, user_id, now)
    if view.role != "administrator":
        raise NotAllowed(
            f"Only the administrators of {view.commitment.project_name} (Admin on its Commitments tool) can "
            "approve a progress claim or send it back; ask one of them."
        )
    return view, await _person(connection, user_id)


def _reviewed(view: ClaimView, reviewer: Person, now: datetime) -> dict:
    """What both review events say (ClaimReviewed)."""
    claim, commitment = view.claim, view.commitment
    return {
        "claim_id": claim.claim_id,
        "period_id": claim.period_id,
        "project_id": claim.project_id,
        "project_name": commitment.project_name,
        "commitment_id": claim.commitment_id,
        "commitment_number": commitment.number,
        "commitment_title": commitment.title,
        "contact": claim.contact,
        "reviewed_by": reviewer,
        "reviewed_at": now,
        "revision": claim.revision,
    }


# --- Announcements ---


async def _create_claim(
    connection: asyncpg.Connection,
    *,
    period_id: str,
    project_id: str,
    commitment_id: str,
    contact: Contact,
    created_by: Person,
    cause: str,
    now: datetime,
) -> str | None:
    """A draft claim for the commitment and period, announced; None when there is one already (rule 14)."""
    on_behalf = created_by.id != contact.user_id
    claim_id = await repository.add_claim(
        connection,
        period_id=period_id,
        project_id=project_id,
        commitment_id=commitment_id,
        contact=contact,
        created_by=created_by,
        on_behalf=on_behalf,
        now=now,
    )
    if claim_id is None:
        return None
    log.info("progress claim created", extra={"claim_id": claim_id, "cause": cause})
    await outbox.record(
        connection,
        ProgressClaimCreated(
            claim_id=claim_id,
            period_id=period_id,
            project_id=project_id,
            commitment_id=commitment_id,
            contact=contact,
            created_by=created_by,
            on_behalf=on_behalf,
            cause=cause,
            created_at=now,
        ),
    )
    return claim_id


async def _reject_attempt(
    connection: asyncpg.Connection,
    *,
    period_id: str,
    project_id: str,
    commitment_id: str,
    attempted_by: Person,
    attempt: str,
    due_at: datetime,
    now: datetime,
) -> None:
    """Announce a contact's claim attempt after the due date (rule 15), once per kind of attempt: a refreshed
    page announces nothing new."""
    if not await repository.add_refused_attempt(connection, period_id, commitment_id, attempted_by.id, attempt):
        return
    log.info("claim attempt refused after the due date", extra={"commitment_id": commitment_id, "attempt": attempt})
    await outbox.record(
        connection,
        ClaimAttemptRejected(
            period_id=period_id,
            project_id=project_id,
            commitment_id=commitment_id,
            attempted_by=attempted_by,
            attempt=attempt,
            reason="due_date_passed",
            due_at=due_at,
            attempted_at=now,
        ),
    )


async def _announce_submission(
    connection: asyncpg.Connection,
    claim: ClaimRecord,
    commitment: Commitment,
    worked_out: money.Claim,
    submitted_by: Person,
    revision: int,
    now: datetime,
) -> None:
    # Rule 18c: the clock starts on the day of submission in the project's time zone.
    project_days = await repository.project_payment_schedule_days(connection, claim.project_id)
    due = payment_schedules.payment_schedule_due(
        commitment.region, domain.local_today(now, commitment.timezone), project_days
    )
    await repository.set_payment_schedule_due(connection, claim.claim_id, due)
    await outbox.record(
        connection,
        ProgressClaimSubmitted(
            claim_id=claim.claim_id,
            period_id=claim.period_id,
            project_id=claim.project_id,
            commitment_id=claim.commitment_id,
            contact=claim.contact,
            submitted_by=submitted_by,
            submitted_at=now,
            totals=ClaimTotals(currency=commitment.currency, **worked_out.totals()),
            revision=revision,
            payment_schedule_due=due,
        ),
    )
