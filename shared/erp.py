"""ERP ingress: the ERP's commitments and project members, kept in each service's own read model.

Versions are per record (a commitment; one user's membership of one project): a higher version replaces
a lower one, an equal or lower one is ignored, so redelivered and reordered ERP events are harmless.
"""

from datetime import UTC, datetime

import asyncpg

from shared.contracts.base import Person
from shared.contracts.erp import PERMISSION_RANK, CommitmentUpserted, ProjectMemberRemoved, ProjectMemberUpserted
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY
from shared.envelope import CloudEvent
from shared.errors import NotAllowed
from shared.messaging import Route


async def apply_commitment(
    connection: asyncpg.Connection, commitment: CommitmentUpserted, event_time: datetime | None = None
) -> bool:
    """Store the commitment if this version is newer than the one we have; True when it was.

    One statement (a round trip per ERP event is most of what ingesting one costs): the project is written only
    when the commitment was."""
    project = commitment.project
    return await connection.fetchval(
        """
        WITH stored AS (
            INSERT INTO erp_commitments AS current (
                commitment_id, version, project_id, kind, number, title, status, vendor_id, vendor_name,
                retention_percent, invoice_contacts, schedule_of_values)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (commitment_id) DO UPDATE SET
                version = excluded.version, project_id = excluded.project_id, kind = excluded.kind,
                number = excluded.number, title = excluded.title, status = excluded.status,
                vendor_id = excluded.vendor_id, vendor_name = excluded.vendor_name,
                retention_percent = excluded.retention_percent, invoice_contacts = excluded.invoice_contacts,
                schedule_of_values = excluded.schedule_of_values, updated_at = now()
            WHERE current.version < excluded.version
            RETURNING true
        ),
        -- A project has no version of its own: the newest commitment event (by its time) speaks for it.
        project AS (
            INSERT INTO erp_projects AS current
                (project_id, name, timezone, currency, company_name, region, event_time)
            SELECT $3, $13::text, $14::text, $15::text, $16::text, $17::text, $18::timestamptz
            WHERE EXISTS (SELECT FROM stored)
            ON CONFLICT (project_id) DO UPDATE SET name = excluded.name, timezone = excluded.timezone,
                currency = excluded.currency, company_name = excluded.company_name, region = excluded.region,
                event_time = excluded.event_time
            WHERE current.event_time <= excluded.event_time
        )
        SELECT EXISTS (SELECT FROM stored)
        """,
        commitment.commitment_id,
        commitment.version,
        project.id,
        commitment.kind,
        commitment.number,
        commitment.title,
        commitment.status,
        commitment.vendor.id,
        commitment.vendor.name,
        commitment.retention_percent,
        [contact.model_dump(mode="json") for contact in commitment.invoice_contacts],
        [line.model_dump(mode="json") for line in commitment.schedule_of_values],
        project.name,
        project.timezone,
        project.currency,
        project.company_name,
        project.region,  # None from events without it (rule 18c: no clock)
        event_time or datetime.now(UTC),
    )


_MEMBER_UPSERTED = """
    WITH stored AS (
        INSERT INTO erp_project_members AS current (
            user_id, project_id, version, name, email, company_name, commitments_permission, removed)
        VALUES ($1, $2, $3, $4, $5, $6, $7, false)
        ON CONFLICT (user_id, project_id) DO UPDATE SET
            version = excluded.version, name = excluded.name, email = excluded.email,
            company_name = excluded.company_name, commitments_permission = excluded.commitments_permission,
            removed = false, updated_at = now()
        WHERE current.version < excluded.version
        RETURNING true
    ),
    person AS (
        INSERT INTO erp_users AS current (user_id, name, email, event_time)
        SELECT $1, $4, $5, $8::timestamptz
        WHERE EXISTS (SELECT FROM stored)
        ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, email = excluded.email,
            event_time = excluded.event_time
        WHERE current.event_time <= excluded.event_time
    )
    SELECT EXISTS (SELECT FROM stored)
"""


def _member_arguments(member: ProjectMemberUpserted, event: CloudEvent) -> tuple:
    return (
        member.user_id,
        member.project_id,
        member.version,
        member.name,
        member.email,
        member.company.name if member.company else "",
        member.commitments_permission,
        event.time or datetime.now(UTC),
    )


async def apply_member_upserted(
    connection: asyncpg.Connection, member: ProjectMemberUpserted, event: CloudEvent
) -> bool:
    """Store the membership if this version is newer; the user's name and email with it, if this event is their
    newest (by its time). One statement, as for commitments."""
    return await connection.fetchval(_MEMBER_UPSERTED, *_member_arguments(member, event))


async def apply_members_upserted(
    connection: asyncpg.Connection, members: list[tuple[CloudEvent, ProjectMemberUpserted]]
) -> None:
    """`apply_member_upserted` for each, in order, sent to the database together (asyncpg pipelines them)."""
    await connection.executemany(_MEMBER_UPSERTED, [_member_arguments(member, event) for event, member in members])


async def apply_member_removed(connection: asyncpg.Connection, removal: ProjectMemberRemoved) -> bool:
    # The row stays, marked removed, so that an older upsert arriving late cannot bring the member back.
    stored = await connection.fetchval(
        """
        INSERT INTO erp_project_members AS current (user_id, project_id, version, removed)
        VALUES ($1, $2, $3, true)
        ON CONFLICT (user_id, project_id) DO UPDATE SET
            version = excluded.version, removed = true, commitments_permission = 'none', updated_at = now()
        WHERE current.version < excluded.version
        RETURNING true
        """,
        removal.user_id,
        removal.project_id,
        removal.version,
    )
    return bool(stored)


async def commitments_permission(connection: asyncpg.Connection, user_id: str, project_id: str) -> str:
    """The user's permission on the project's Commitments tool ('none' when not a member)."""
    permission = await connection.fetchval(
        """
        SELECT commitments_permission FROM erp_project_members
        WHERE user_id = $1 AND project_id = $2 AND NOT removed
        """,
        user_id,
        project_id,
    )
    return permission or "none"


def holds(permission: str, at_least: str) -> bool:
    return PERMISSION_RANK[permission] >= PERMISSION_RANK[at_least]


def erp_routes() -> dict[str, dict[str, Route]]:
    """The ERP topics and their routes, for `shared.messaging.consume`."""

    async def commitment_upserted(connection, event, commitment: CommitmentUpserted) -> None:
        await apply_commitment(connection, commitment, event.time)

    async def member_upserted(connection, event, member: ProjectMemberUpserted) -> None:
        await apply_member_upserted(connection, member, event)

    async def member_removed(connection, event, removal: ProjectMemberRemoved) -> None:
        await apply_member_removed(connection, removal)

    return {
        ERP_COMMITMENTS: {CommitmentUpserted.TYPE: Route(CommitmentUpserted, commitment_upserted)},
        ERP_DIRECTORY: {
            ProjectMemberUpserted.TYPE: Route(ProjectMemberUpserted, member_upserted, apply_members_upserted),
            ProjectMemberRemoved.TYPE: Route(ProjectMemberRemoved, member_removed),
        },
    }


async def find_person(connection: asyncpg.Connection, user_id: str) -> Person | None:
    row = await connection.fetchrow("SELECT user_id, name, email FROM erp_users WHERE user_id = $1", user_id)
    return Person(id=row["user_id"], name=row["name"], email=row["email"]) if row else None


async def require_permission(connection: asyncpg.Connection, user_id: str, project_id: str, at_least: str) -> Person:
    """The user, if they hold `at_least` on the project's Commitments tool (rule 19); NotAllowed otherwise."""
    person = await find_person(connection, user_id)
    if person is None or not holds(await commitments_permission(connection, user_id, project_id), at_least):
        needed = at_least.replace("_", " ").title()
        raise NotAllowed(
            f"You need {needed} permission on the Commitments tool of project {project_id} to do this; "
            "ask the project's administrator to grant it."
        )
    return person


async def user_id_for_email(connection: asyncpg.Connection, email: str) -> str | None:
    return await connection.fetchval("SELECT user_id FROM erp_users WHERE lower(email) = lower($1)", email)
