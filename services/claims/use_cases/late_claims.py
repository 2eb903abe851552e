"""Asking to claim late (rule 18b): after the due date a contact asks; an administrator of the project allows
it until a day, for that contact and commitment, or refuses it with a reason. Each step is announced on
billing.claims, in the transaction that makes it."""

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

import asyncpg

from services.claims.domain import claims as domain
from services.claims.domain.claims import Commitment, LateClaimRequest, NewClaim, Period
from services.claims.repository import claims as repository
from services.claims.use_cases.claims import _new_claim, _period_and_commitment, _person, _view
from shared import outbox
from shared.contracts.claims import ClaimWindowExtended, LateClaimRequested, LateClaimRequestRefused
from shared.erp import require_permission
from shared.errors import Conflict, NotFound

log = logging.getLogger(__name__)


class AlreadyAsked(Conflict):
    """The contact has a request open for the commitment and period; `request_id` is that one."""

    def __init__(self, message: str, request_id: str):
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True)
class LateRequestView:
    """A request to claim late as its administrators' page shows it."""

    request: LateClaimRequest
    period: Period
    commitment: Commitment
    allowed_until_default: date


async def ask_to_claim_late(
    pool: asyncpg.Pool, user_id: str, period_id: str, commitment_id: str, message: str, now: datetime
) -> LateClaimRequest:
    """The contact's request to claim late, announced (LateClaimRequested) to whom they would ask otherwise
    (rule 15's `whom_to_ask`); AlreadyAsked when one is open."""
    text = domain.check_late_message(message)
    async with pool.acquire() as connection, connection.transaction():
        new = await _new_claim(connection, user_id, period_id, commitment_id, now)
        if new.existing_claim_id is not None:  # a draft of theirs, made before the due date
            view = await _view(connection, await repository.find_claim(connection, new.existing_claim_id), user_id, now)
            new = NewClaim(view.period, view.commitment, view.claim.contact, None, view.refusal, late=view.late)
            if view.claim.contact.user_id != user_id or view.claim.status not in domain.EDITABLE_STATUSES:
                new = replace(new, refusal=None)
        already_asked = new.late is not None and new.late.pending
        if not (new.may_ask_late or already_asked):
            raise Conflict(
                "You can ask to claim late only once the due date has passed and while the billing period is open "
                "and has no claim for this commitment. Open the New Progress Claim page to see where it stands."
            )
        if new.late is not None and new.late.pending:
            raise AlreadyAsked(_already_asked(new.late), new.late.request_id)
        invited_by = await repository.inviter(connection, period_id, commitment_id, user_id)
        asked = domain.whom_to_ask(invited_by, new.period)
        if asked is None:
            raise Conflict(
                f"Nobody is known to ask on {new.commitment.project_name}; ask {new.commitment.contractor} directly."
            )
        request = LateClaimRequest(
            request_id=str(uuid.uuid4()),
            period_id=period_id,
            project_id=new.commitment.project_id,
            commitment_id=commitment_id,
            contact=new.contact,
            asked=asked,
            message=text,
            requested_at=now,
        )
        if not await repository.add_late_request(connection, request):  # a second click a moment ago
            late = await repository.latest_late_request(connection, period_id, commitment_id, user_id)
            raise AlreadyAsked(_already_asked(late), late.request_id)
        log.info("late claim requested", extra={"request_id": request.request_id})
        await outbox.record(
            connection,
            LateClaimRequested(**_about(request), asked=asked, message=text, requested_at=now),
        )
        return request


def _already_asked(late: LateClaimRequest) -> str:
    return f"You have asked {late.asked.name} already, and they have not answered yet; you are emailed when they do."


async def late_request(pool: asyncpg.Pool, user_id: str, request_id: str, now: datetime) -> LateRequestView:
    """The request for the project's administrators (rule 19) only."""
    async with pool.acquire() as connection:
        return await _late_request(connection, user_id, request_id, now)


async def allow_late_claim(
    pool: asyncpg.Pool, user_id: str, request_id: str, allowed_until: date | None, now: datetime
) -> LateRequestView:
    """An administrator allows the late claim until a day (rule 18b), announced (ClaimWindowExtended)."""
    async with pool.acquire() as connection, connection.transaction():
        view = await _late_request(connection, user_id, request_id, now, for_update=True)
        domain.require_pending(view.request, view.period)
        until = domain.check_allowed_until(allowed_until, view.commitment.timezone, now)
        administrator = await _person(connection, user_id)
        await repository.answer_late_request(connection, request_id, "allowed", until, None, administrator, now)
        log.info("late claim allowed", extra={"request_id": request_id, "allowed_until": str(until)})
        await outbox.record(
            connection,
            ClaimWindowExtended(**_about(view.request), allowed_until=until, allowed_by=administrator, allowed_at=now),
        )
        return await _late_request(connection, user_id, request_id, now)


async def refuse_late_claim(
    pool: asyncpg.Pool, user_id: str, request_id: str, reason: str, now: datetime
) -> LateRequestView:
    """An administrator refuses the late claim with a reason (rule 18b), announced (LateClaimRequestRefused)."""
    async with pool.acquire() as connection, connection.transaction():
        view = await _late_request(connection, user_id, request_id, now, for_update=True)
        domain.require_pending(view.request, view.period)
        reason = domain.check_late_refusal_reason(reason)
        administrator = await _person(connection, user_id)
        await repository.answer_late_request(connection, request_id, "refused", None, reason, administrator, now)
        log.info("late claim refused", extra={"request_id": request_id})
        await outbox.record(
            connection,
            LateClaimRequestRefused(**_about(view.request), reason=reason, refused_by=administrator, refused_at=now),
        )
        return await _late_request(connection, user_id, request_id, now)


async def _late_request(
    connection: asyncpg.Connection, user_id: str, request_id: str, now: datetime, for_update: bool = False
) -> LateRequestView:
    request = await repository.find_late_request(connection, request_id, for_update=for_update)
    if request is None:
        raise NotFound("There is no such request to claim late; check the link in the email.")
    await require_permission(connection, user_id, request.project_id, "admin")
    period, commitment = await _period_and_commitment(connection, request.period_id, request.commitment_id)
    return LateRequestView(
        request=request,
        period=period,
        commitment=commitment,
        allowed_until_default=domain.default_allowed_until(now, commitment.timezone),
    )


def _about(request: LateClaimRequest) -> dict:
    """What all three events say (LateClaimEvent)."""
    return {
        "request_id": request.request_id,
        "period_id": request.period_id,
        "project_id": request.project_id,
        "commitment_id": request.commitment_id,
        "contact": request.contact,
    }
