"""What the responses service hears on Kafka, each passed to its use case (in the consumer's transaction)."""

import asyncpg

from services.responses import use_cases
from shared.contracts.invites import InviteSent
from shared.envelope import CloudEvent


async def invite_sent(connection: asyncpg.Connection, event: CloudEvent, sent: InviteSent) -> None:
    await use_cases.invite_sent(connection, sent)
