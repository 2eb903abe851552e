"""What the claims service hears on Kafka, each passed to its use case (in the consumer's transaction)."""

import asyncpg

from services.claims.use_cases import claims as use_cases
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.envelope import CloudEvent


async def commitment_upserted(
    connection: asyncpg.Connection, event: CloudEvent, commitment: CommitmentUpserted
) -> None:
    await use_cases.commitment_upserted(connection, commitment, event.time)


async def invite_sent(connection: asyncpg.Connection, event: CloudEvent, sent: InviteSent) -> None:
    await use_cases.invite_sent(connection, sent)


async def invite_accepted(connection: asyncpg.Connection, event: CloudEvent, accepted: InviteAccepted) -> None:
    await use_cases.invite_accepted(connection, accepted)


async def invite_declined(connection: asyncpg.Connection, event: CloudEvent, declined: InviteDeclined) -> None:
    await use_cases.invite_declined(connection, declined)
