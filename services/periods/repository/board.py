"""The period board's SQL: the facts each row's events told, and what the board is drawn from."""

import asyncpg

from services.periods.domain.board import ErpCommitment, RowFacts, SkippedCommitment
from shared.contracts.base import Contact


async def locked_row_facts(connection: asyncpg.Connection, key: tuple[str, str, str]) -> RowFacts | None:
    """The row's facts, locked until the transaction ends; the row is made first if new, so that two events
    for the same row taken in at once (from different topics) wait for each other rather than both insert."""
    await connection.execute(
        """
        INSERT INTO period_board_rows (period_id, commitment_id, contact_user_id, facts) VALUES ($1, $2, $3, $4)
        ON CONFLICT DO NOTHING
        """,
        *key,
        {},
    )
    facts = await connection.fetchval(
        """
        SELECT facts FROM period_board_rows WHERE period_id = $1 AND commitment_id = $2 AND contact_user_id = $3
        FOR UPDATE
        """,
        *key,
    )
    return RowFacts.model_validate(facts) if facts else None


async def save_row_facts(connection: asyncpg.Connection, facts: RowFacts) -> None:
    await connection.execute(
        """
        UPDATE period_board_rows SET facts = $4, as_of = $5
        WHERE period_id = $1 AND commitment_id = $2 AND contact_user_id = $3
        """,
        *facts.key,
        facts.model_dump(mode="json"),
        facts.as_of,
    )
    await _count_a_change(connection, facts.period_id)


async def locked_skip(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> SkippedCommitment | None:
    facts = await connection.fetchval(
        "SELECT facts FROM period_board_skips WHERE period_id = $1 AND commitment_id = $2 FOR UPDATE",
        period_id,
        commitment_id,
    )
    return SkippedCommitment.model_validate(facts) if facts else None


async def save_skip(connection: asyncpg.Connection, skip: SkippedCommitment) -> None:
    await connection.execute(
        """
        INSERT INTO period_board_skips (period_id, commitment_id, facts, as_of) VALUES ($1, $2, $3, $4)
        ON CONFLICT (period_id, commitment_id) DO UPDATE SET facts = excluded.facts, as_of = excluded.as_of
        """,
        skip.period_id,
        skip.commitment_id,
        skip.model_dump(mode="json"),
        skip.at,
    )
    await _count_a_change(connection, skip.period_id)


async def _count_a_change(connection: asyncpg.Connection, period_id: str) -> None:
    await connection.execute(
        """
        INSERT INTO period_board_changes (period_id, changes) VALUES ($1, 1)
        ON CONFLICT (period_id) DO UPDATE SET changes = period_board_changes.changes + 1
        """,
        period_id,
    )


async def facts_of_period(connection: asyncpg.Connection, period_id: str) -> list[RowFacts]:
    rows = await connection.fetch(
        "SELECT facts FROM period_board_rows WHERE period_id = $1 AND facts <> '{}'::jsonb", period_id
    )
    return [RowFacts.model_validate(row["facts"]) for row in rows]


async def skips_of_period(connection: asyncpg.Connection, period_id: str) -> list[SkippedCommitment]:
    rows = await connection.fetch("SELECT facts FROM period_board_skips WHERE period_id = $1", period_id)
    return [SkippedCommitment.model_validate(row["facts"]) for row in rows]


async def as_of(connection: asyncpg.Connection, period_id: str):
    """The newest event's own time among the period's rows and skipped commitments (two index lookups)."""
    return await connection.fetchval(
        """
        SELECT greatest(
            (SELECT max(as_of) FROM period_board_rows WHERE period_id = $1),
            (SELECT max(as_of) FROM period_board_skips WHERE period_id = $1))
        """,
        period_id,
    )


async def changes_heard(connection: asyncpg.Connection, period_id: str, project_id: str) -> str:
    """A value that changes whenever what the board is drawn from changes: the count of its events taken in, and
    the newest change to the project's commitments and members as the ERP sent them (the period's own dates and
    status are the caller's to add)."""
    heard = await connection.fetchrow(
        """
        SELECT (SELECT changes FROM period_board_changes WHERE period_id = $1) AS board,
               (SELECT max(updated_at) FROM erp_commitments WHERE project_id = $2) AS commitments,
               (SELECT max(updated_at) FROM erp_project_members WHERE project_id = $2) AS members
        """,
        period_id,
        project_id,
    )
    return "|".join("-" if value is None else str(value) for value in heard.values())


async def commitments_of_project(connection: asyncpg.Connection, project_id: str) -> list[ErpCommitment]:
    rows = await connection.fetch(
        """
        SELECT commitment_id, number, title, vendor_name, kind, status, invoice_contacts
        FROM erp_commitments WHERE project_id = $1
        """,
        project_id,
    )
    return [
        ErpCommitment(
            commitment_id=row["commitment_id"],
            number=row["number"],
            title=row["title"],
            vendor_name=row["vendor_name"],
            kind=row["kind"],
            status=row["status"],
            contacts=[Contact.model_validate(contact) for contact in row["invoice_contacts"]],
        )
        for row in rows
    ]


async def permissions_on_project(connection: asyncpg.Connection, project_id: str) -> dict[str, str]:
    """Each member's permission on the project's Commitments tool; a removed member has none."""
    rows = await connection.fetch(
        "SELECT user_id, commitments_permission FROM erp_project_members WHERE project_id = $1 AND NOT removed",
        project_id,
    )
    return {row["user_id"]: row["commitments_permission"] for row in rows}


async def region_of_project(connection: asyncpg.Connection, project_id: str) -> str | None:
    """The project's region (rule 18c): its Security of Payment Act, if any."""
    return await connection.fetchval("SELECT region FROM erp_projects WHERE project_id = $1", project_id)


async def currency_of_project(connection: asyncpg.Connection, project_id: str) -> str:
    return await connection.fetchval("SELECT currency FROM erp_projects WHERE project_id = $1", project_id) or ""
