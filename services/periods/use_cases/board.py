"""The period board: the events that build it (in the consumer's transaction), and what administrators read."""

from datetime import datetime

import asyncpg

from services.periods.domain import board as rules
from services.periods.domain.board import Board
from services.periods.domain.periods import BillingPeriod
from services.periods.repository import board as repository
from services.periods.repository import periods as periods_repository
from shared.contracts.base import Contract
from shared.contracts.invites import InviteSkipped
from shared.erp import require_permission
from shared.errors import NotFound

# --- Events ---


async def row_event_heard(connection: asyncpg.Connection, event: Contract, decline_reason: str | None = None) -> None:
    """An invite's, answer's or claim's event, added to its row's facts (the row locked meanwhile)."""
    known = await repository.locked_row_facts(connection, rules.row_key(event))
    await repository.save_row_facts(connection, rules.take_in(known, event, decline_reason))


async def invite_skipped(connection: asyncpg.Connection, skip: InviteSkipped, heard_at: datetime) -> None:
    known = await repository.locked_skip(connection, skip.period_id, skip.commitment_id)
    await repository.save_skip(connection, rules.take_in_skip(known, rules.skipped(skip, heard_at)))


# --- What administrators read ---


async def board_of_period(pool: asyncpg.Pool, *, user_id: str, period_id: str, now: datetime) -> Board:
    """The period's board, for an administrator of its project (Admin on the Commitments tool, rule 19)."""
    async with pool.acquire() as connection, connection.transaction(isolation="repeatable_read", readonly=True):
        period = await _existing_period(connection, period_id)
        project_id = period.project.id
        await require_permission(connection, user_id, project_id, "admin")
        return rules.build_board(
            period,
            await repository.currency_of_project(connection, project_id),
            await repository.commitments_of_project(connection, project_id),
            await repository.permissions_on_project(connection, project_id),
            await repository.facts_of_period(connection, period.id),
            await repository.skips_of_period(connection, period.id),
            now,
            region=await repository.region_of_project(connection, project_id),
        )


async def board_as_of(pool: asyncpg.Pool, *, user_id: str, period_id: str) -> datetime | None:
    """The board's `as_of` without drawing the board."""
    async with pool.acquire() as connection:
        period = await _existing_period(connection, period_id)
        await require_permission(connection, user_id, period.project.id, "admin")
        return await repository.as_of(connection, period.id)


async def board_version(pool: asyncpg.Pool, *, user_id: str, period_id: str) -> str:
    """A value that changes whenever the board would (an event heard, even one older than the newest; the ERP's
    commitments or members; the period's due date or status), without drawing it: for a page that polls."""
    async with pool.acquire() as connection:
        period = await _existing_period(connection, period_id)
        await require_permission(connection, user_id, period.project.id, "admin")
        heard = await repository.changes_heard(connection, period.id, period.project.id)
        return f"{heard}|{period.due_date.isoformat()}|{period.status}"


async def _existing_period(connection: asyncpg.Connection, period_id: str) -> BillingPeriod:
    period = await periods_repository.get_period(connection, period_id)
    if period is None:
        raise NotFound(
            f"There is no billing period with id {period_id[:100]}; check the link or list the project's periods."
        )
    return period
