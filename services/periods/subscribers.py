"""What the periods service hears on Kafka for the period board, each passed to its use case (in the consumer's
transaction). The ERP's records are kept by `shared.erp`'s routes."""

from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.periods.domain.board import reason_given
from services.periods.use_cases import board
from shared.contracts.base import Contract
from shared.contracts.invites import InviteSkipped
from shared.contracts.responses import InviteDeclined
from shared.envelope import CloudEvent


async def row_event(connection: asyncpg.Connection, event: CloudEvent, heard: Contract) -> None:
    await board.row_event_heard(connection, heard)


async def invite_declined(connection: asyncpg.Connection, event: CloudEvent, declined: InviteDeclined) -> None:
    # The reason is read from the event's data: the contract may carry it later (rule 18a), or never.
    await board.row_event_heard(connection, declined, reason_given(event.data))


def invite_skipped(clock: Callable[[], datetime]):
    async def handle(connection: asyncpg.Connection, event: CloudEvent, skip: InviteSkipped) -> None:
        await board.invite_skipped(connection, skip, event.time or clock())

    return handle
