"""The notifier's tables: periods it heard of, invites, the deliveries waiting to be sent, password mails."""

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from services.notifier.domain import invite_id, message_id
from shared.events import BillingPeriodOpened, PasswordLinkRequested


async def store_period(connection: asyncpg.Connection, opened: BillingPeriodOpened) -> bool:
    inserted = await connection.fetchval(
        """
        INSERT INTO periods (period_id, project_id, project_name, project_timezone, start_date, end_date,
                             due_date, due_at, status, opened_by, reminder_days_before_due)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10)
        ON CONFLICT (period_id) DO NOTHING RETURNING true
        """,
        uuid.UUID(opened.period_id),
        opened.project_id,
        opened.project_name,
        opened.project_timezone,
        opened.start_date,
        opened.end_date,
        opened.due_date,
        opened.due_at,
        opened.opened_by.model_dump(),
        opened.reminder_days_before_due,
    )
    return bool(inserted)


async def open_periods_of_project(connection: asyncpg.Connection, project_id: str, now: datetime) -> list[str]:
    rows = await connection.fetch(
        "SELECT period_id FROM periods WHERE project_id = $1 AND status = 'open' AND due_at > $2",
        project_id,
        now,
    )
    return [str(row["period_id"]) for row in rows]


async def commitments_of_project(connection: asyncpg.Connection, project_id: str) -> AsyncIterator[asyncpg.Record]:
    """Streamed with a cursor (inside the caller's transaction): a project may have thousands."""
    async for row in connection.cursor(
        "SELECT * FROM erp_commitments WHERE project_id = $1 ORDER BY commitment_id", project_id, prefetch=200
    ):
        yield row


async def add_invites(connection: asyncpg.Connection, period_id: str, commitment: asyncpg.Record) -> int:
    """An invite and its first delivery for each contact of the commitment; existing ones are left alone."""
    invites = [
        (
            uuid.UUID(invite_id(period_id, commitment["commitment_id"], contact["user_id"])),
            uuid.UUID(period_id),
            commitment["commitment_id"],
            commitment["number"],
            commitment["title"],
            commitment["vendor_name"],
            contact["user_id"],
            contact["name"],
            contact["email"],
        )
        for contact in commitment["invoice_contacts"]
    ]
    await connection.executemany(
        """
        INSERT INTO invites (invite_id, period_id, commitment_id, commitment_number, commitment_title,
                             vendor_name, contact_user_id, contact_name, contact_email)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING
        """,
        invites,
    )
    return await add_deliveries(connection, [row[0] for row in invites], "invite")


async def add_deliveries(
    connection: asyncpg.Connection, invite_ids: list[uuid.UUID], kind: str, request: str = ""
) -> int:
    """A delivery row per invite, written before anything is sent; one that exists already is kept."""
    added = await connection.fetch(
        """
        INSERT INTO deliveries (invite_id, kind, request, message_id)
        SELECT invite, $3, $4, message FROM unnest($1::uuid[], $2::text[]) AS sending (invite, message)
        ON CONFLICT DO NOTHING RETURNING delivery_id
        """,
        invite_ids,
        [message_id(str(invite), kind, request) for invite in invite_ids],
        kind,
        request,
    )
    return len(added)


async def has_invites(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> bool:
    return await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invites WHERE period_id = $1 AND commitment_id = $2)",
        uuid.UUID(period_id),
        commitment_id,
    )


async def record_skip(connection: asyncpg.Connection, period_id: str, commitment_id: str, reason: str) -> bool:
    inserted = await connection.fetchval(
        """
        INSERT INTO skipped_commitments (period_id, commitment_id, reason) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        uuid.UUID(period_id),
        commitment_id,
        reason,
    )
    return bool(inserted)


async def add_password_mail(connection: asyncpg.Connection, request: PasswordLinkRequested) -> bool:
    """The mail of one password link, written before it is sent; a request already here is left as it is."""
    inserted = await connection.fetchval(
        """
        INSERT INTO password_mails (request_id, user_id, name, email, message_id, requested_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (request_id) DO NOTHING RETURNING true
        """,
        request.request_id,
        request.user_id,
        request.name,
        request.email,
        message_id(request.request_id, "password"),
        request.requested_at,
        request.expires_at,
    )
    return bool(inserted)
