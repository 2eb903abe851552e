"""What a person can do with claims, for the pages and the API alike; each refusal says why, in full sentences.

Contacts create, fill in and submit their claims before the due date (rules 15, 16); administrators create a
claim on a contact's behalf and fill it in while the period exists. Who is which is rule 19
(`domain.role_for`). A contact's refused attempt after the due date is announced (ClaimAttemptRejected) in a
transaction of its own, so that the refusal does not take the announcement back with it.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

import asyncpg

from services.claims import domain, handlers, money, repository
from services.claims.domain import Refusal, Role
from services.claims.repository import ClaimRecord, Commitment, Period
from shared import outbox
from shared.contracts.base import Contact, Person
from shared.contracts.claims import ClaimTotals, ProgressClaimSubmitted
from shared.erp import find_person, require_permission
from shared.errors import Conflict, InvalidRequest, NotAllowed, NotFound


class NotArrivedYet(Exception):
    """The period or the commitment has not reached this service yet (topics are not ordered)."""


class FieldErrors(InvalidRequest):
    """Amounts that cannot be claimed, each message for its field ("this_period.<line>" or "stored.<line>")."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Some amounts cannot be claimed; see the messages next to them.")
        self.errors = errors


@dataclass(frozen=True)
class ClaimView:
    claim: ClaimRecord
    commitment: Commitment
    period: Period
    role: Role
    refusal: Refusal | None  # why a contact could not change it now
    worked_out: money.Claim

    @property
    def can_edit(self) -> bool:
        return domain.may_edit(self.role, self.claim.status, self.refusal)


async def open_new_claim(pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, now: datetime) -> str:
    """The claim for the commitment and period, created when the user may still make it (rule 16)."""
    async with pool.acquire() as connection:
        async with connection.transaction():
            period, commitment = await _period_and_commitment(connection, period_id, commitment_id)
            role = await _require_role(connection, user_id, commitment)
            existing = await repository.find_claim_for(connection, period_id, commitment_id)
            if existing is not None:
                return existing.claim_id
            contact = commitment.contact(user_id)
            if contact is None:  # an administrator, who makes claims for a named contact
                raise NotFound(
                    f"No progress claim has been made for {commitment.number} in this billing period yet. As an "
                    "administrator you can create one on a contact's behalf through the claims API."
                )
            _require_billable(commitment)
            refusal = domain.contact_refusal(period.due_at, period.closed, now) if role == "contact" else None
            if refusal is None:
                claim_id = await _create_claim(connection, period_id, commitment, contact, user_id, "claim_page", now)
                # Another request may have made it a moment ago; then it is that one.
                return claim_id or (await repository.find_claim_for(connection, period_id, commitment_id)).claim_id
        await _refuse(connection, refusal, period, commitment, user_id, "create", now)


async def create_on_behalf(
    pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, contact_user_id: str, now: datetime
) -> ClaimView:
    """An administrator's claim for a named contact, at any time while the period exists (rule 15)."""
    async with pool.acquire() as connection, connection.transaction():
        period = await repository.find_period(connection, period_id)
        if period is None:
            raise NotFound(f"There is no billing period {period_id}.")
        commitment = await repository.find_commitment(connection, commitment_id)
        if commitment is None or commitment.project_id != period.project_id:
            raise NotFound(f"There is no commitment {commitment_id} on the project of billing period {period_id}.")
        if await repository.role_on(connection, user_id, commitment) != "administrator":
            raise NotAllowed(
                f"You need Admin permission on the Commitments tool of project {commitment.project_id} to create "
                "a claim on a contact's behalf."
            )
        _require_billable(commitment)
        contact = commitment.contact(contact_user_id)
        if contact is None:
            raise InvalidRequest(
                f"{contact_user_id} is not a progress claim contact of {commitment.number}; choose one of: "
                + ", ".join(f"{c.user_id} ({c.name})" for c in commitment.contacts)
                + "."
            )
        claim_id = await _create_claim(connection, period_id, commitment, contact, user_id, "administrator", now)
        if claim_id is None:
            existing = await repository.find_claim_for(connection, period_id, commitment_id)
            raise Conflict(
                f"{commitment.number} already has a progress claim for this billing period ({existing.claim_id}); "
                "there is one claim per commitment per period."
            )
        return await _view(connection, await repository.find_claim(connection, claim_id), user_id, now)


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
    async with pool.acquire() as connection:
        period = await repository.find_period(connection, period_id)
        if period is None:
            raise NotFound(f"There is no billing period {period_id}.")
        await require_permission(connection, user_id, period.project_id, "admin")
        return [
            await _view(connection, claim, user_id, now)
            for claim in await repository.claims_of_period(connection, period_id)
        ]


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
        _require_billable(commitment)
    entered = _amounts(typed, commitment)
    lines, previously_earned = await repository.line_inputs(connection, claim, commitment, view.period, entered)
    over = {
        f"this_period.{line.line_id}": "This claims more than the line's scheduled value "
        f"({line.scheduled_value:,.2f}) in total, counting previous claims and stored materials."
        for line in lines
        if money.over_claimed(line)
    }
    if over:
        raise FieldErrors(over)
    await repository.save_lines(connection, claim.claim_id, entered, now)
    worked_out = money.work_out(lines, commitment.retention_percent, previously_earned)
    if submit:
        await repository.mark_submitted(connection, claim.claim_id, worked_out, now)
        await _announce_submission(connection, claim, commitment, worked_out, user_id, now)
    return await _view(connection, await repository.find_claim(connection, claim.claim_id), user_id, now)


def _amounts(typed: dict[str, tuple[str, str]], commitment: Commitment) -> dict[str, tuple[Decimal, Decimal]]:
    errors: dict[str, str] = {}
    amounts: dict[str, tuple[Decimal, Decimal]] = {}
    for line in commitment.lines:
        this_period_text, stored_text = typed.get(line.line_id, ("", ""))
        parsed = []
        for name, text in (("this_period", this_period_text), ("stored", stored_text)):
            try:
                parsed.append(money.parse_amount(text))
            except money.AmountError as error:
                errors[f"{name}.{line.line_id}"] = str(error)
                parsed.append(money.ZERO)
        amounts[line.line_id] = (parsed[0], parsed[1])
    if errors:
        raise FieldErrors(errors)
    return amounts


async def _view(connection: asyncpg.Connection, claim: ClaimRecord, user_id: str, now: datetime) -> ClaimView:
    period = await repository.find_period(connection, claim.period_id)
    commitment = await repository.find_commitment(connection, claim.commitment_id)
    if period is None or commitment is None:
        raise NotArrivedYet()
    role = await _require_role(connection, user_id, commitment)
    lines, previously_earned = await repository.line_inputs(connection, claim, commitment, period)
    return ClaimView(
        claim=claim,
        commitment=commitment,
        period=period,
        role=role,
        refusal=domain.contact_refusal(period.due_at, period.closed, now),
        worked_out=money.work_out(lines, commitment.retention_percent, previously_earned),
    )


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


async def _require_role(connection: asyncpg.Connection, user_id: str, commitment: Commitment) -> Role:
    role = await repository.role_on(connection, user_id, commitment)
    if role is None:
        raise NotAllowed(
            f"You cannot see or make progress claims for {commitment.number}: that needs Read Only (or higher) "
            f"permission on the Commitments tool of {commitment.project_name} and being a progress claim contact "
            f"of the commitment. Ask {_contractor(commitment)} to add you."
        )
    return role


def _require_billable(commitment: Commitment) -> None:
    if not commitment.billable:
        raise Conflict(
            f"{commitment.number} is not approved (its status is {commitment.status.replace('_', ' ')}), "
            "so no progress claim can be made for it."
        )


async def _refuse(
    connection: asyncpg.Connection,
    refusal: Refusal,
    period: Period,
    commitment: Commitment,
    user_id: str,
    attempt: str,
    now: datetime,
) -> NoReturn:
    """Refuse a contact's attempt, announcing it first when the due date has passed (rule 15)."""
    if refusal == "period_closed":
        raise Conflict(
            f"This billing period is closed, so no progress claim can be made for it. Ask {_contractor(commitment)} "
            "about the next billing period."
        )
    async with connection.transaction():
        await handlers.reject_attempt(
            connection,
            period_id=period.period_id,
            project_id=period.project_id,
            commitment_id=commitment.commitment_id,
            attempted_by=await _person(connection, user_id),
            attempt=attempt,
            due_at=period.due_at,
            now=now,
        )
    raise Conflict(
        "The due date for this billing period has passed, so no progress claim can be created or submitted. "
        f"Ask {_contractor(commitment)} to create the claim on your behalf."
    )


def _contractor(commitment: Commitment) -> str:
    return commitment.company_name or "the contractor"


async def _create_claim(
    connection: asyncpg.Connection,
    period_id: str,
    commitment: Commitment,
    contact: Contact,
    user_id: str,
    cause: str,
    now: datetime,
) -> str | None:
    return await handlers.create_claim(
        connection,
        period_id=period_id,
        project_id=commitment.project_id,
        commitment_id=commitment.commitment_id,
        contact=contact,
        created_by=await _person(connection, user_id),
        cause=cause,
        now=now,
    )


async def _person(connection: asyncpg.Connection, user_id: str) -> Person:
    person = await find_person(connection, user_id)
    if person is None:
        raise NotAllowed("Your account is not known on any project; ask the contractor to add you.")
    return person


async def _announce_submission(
    connection: asyncpg.Connection,
    claim: ClaimRecord,
    commitment: Commitment,
    worked_out: money.Claim,
    user_id: str,
    now: datetime,
) -> None:
    await outbox.record(
        connection,
        ProgressClaimSubmitted(
            claim_id=claim.claim_id,
            period_id=claim.period_id,
            project_id=claim.project_id,
            commitment_id=claim.commitment_id,
            contact=claim.contact,
            submitted_by=await _person(connection, user_id),
            submitted_at=now,
            totals=ClaimTotals(currency=commitment.currency, **worked_out.totals()),
        ),
    )
