"""What the notifier hears on Kafka, each passed to its use case (in the consumer's transaction)."""

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.notifier import use_cases
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.claims import (
    ClaimWindowExtended,
    LateClaimRequested,
    LateClaimRequestRefused,
    ProgressClaimApproved,
    ProgressClaimCreated,
    ProgressClaimRevisionRequested,
    ProgressClaimSubmitted,
)
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.periods import BillingPeriodOpened, InvitesResendRequested
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.envelope import CloudEvent


async def period_opened(connection: asyncpg.Connection, event: CloudEvent, opened: BillingPeriodOpened) -> None:
    await use_cases.period_opened(connection, opened)


def commitment_changed(clock: Callable[[], datetime]):
    async def handle(connection: asyncpg.Connection, event: CloudEvent, commitment: CommitmentUpserted) -> None:
        await use_cases.commitment_changed(connection, commitment, event.time, clock())

    return handle


async def resend_requested(connection: asyncpg.Connection, event: CloudEvent, request: InvitesResendRequested) -> None:
    await use_cases.resend_requested(connection, request, request_id=event.id)


async def invite_declined(connection: asyncpg.Connection, event: CloudEvent, answer: InviteDeclined) -> None:
    await use_cases.invite_answered(connection, answer.invite_id, declined=True)


async def invite_accepted(connection: asyncpg.Connection, event: CloudEvent, answer: InviteAccepted) -> None:
    await use_cases.invite_answered(connection, answer.invite_id, declined=False)


async def claim_created(connection: asyncpg.Connection, event: CloudEvent, claim: ProgressClaimCreated) -> None:
    await use_cases.claim_created(connection, claim)


async def claim_submitted(connection: asyncpg.Connection, event: CloudEvent, claim: ProgressClaimSubmitted) -> None:
    await use_cases.claim_submitted(connection, claim)


async def claim_approved(connection: asyncpg.Connection, event: CloudEvent, review: ProgressClaimApproved) -> None:
    await use_cases.claim_reviewed(connection, review)


async def claim_revision_requested(
    connection: asyncpg.Connection, event: CloudEvent, review: ProgressClaimRevisionRequested
) -> None:
    await use_cases.claim_reviewed(connection, review)


async def password_link_requested(
    connection: asyncpg.Connection, event: CloudEvent, request: PasswordLinkRequested
) -> None:
    await use_cases.password_link_requested(connection, request)


async def late_claim_step(
    connection: asyncpg.Connection,
    event: CloudEvent,
    step: LateClaimRequested | ClaimWindowExtended | LateClaimRequestRefused,
) -> None:
    await use_cases.late_claim_step(connection, step)
