"""All SQL of the notifier: the period view it invites from, invites, the mail waiting to be sent."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.notifier.domain import Delivery, PasswordMail, invite_id, message_id
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.base import Contact, Person
from shared.contracts.invites import Invite, InvitedCommitment

# --- Projects, periods and commitments ---


async def lock_project(connection: asyncpg.Connection, project_id: str) -> None:
    """A period opening and a commitment arriving at once would each miss the other; one waits instead."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('project:' || $1))", project_id)


async def open_periods_of_project(connection: asyncpg.Connection, project_id: str, now: datetime) -> list[str]:
    rows = await connection.fetch(
        "SELECT period_id FROM periods WHERE project_id = $1 AND NOT closed AND due_at > $2", project_id, now
    )
    return [str(row["period_id"]) for row in rows]


async def commitments_of_project(connection: asyncpg.Connection, project_id: str) -> AsyncIterator[asyncpg.Record]:
    """Streamed with a cursor (inside the caller's transaction): a project may have thousands."""
    async for row in connection.cursor(
        "SELECT * FROM erp_commitments WHERE project_id = $1 ORDER BY commitment_id", project_id, prefetch=200
    ):
        yield row


async def find_commitment(connection: asyncpg.Connection, commitment_id: str) -> asyncpg.Record:
    return await connection.fetchrow("SELECT * FROM erp_commitments WHERE commitment_id = $1", commitment_id)


async def mark_claimed(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> None:
    await connection.execute(
        "INSERT INTO claimed_commitments (period_id, commitment_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        uuid.UUID(period_id),
        commitment_id,
    )


# --- Invites ---


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


async def has_invites(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> bool:
    return await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invites WHERE period_id = $1 AND commitment_id = $2)",
        uuid.UUID(period_id),
        commitment_id,
    )


async def invites_of_period(
    connection: asyncpg.Connection, period_id: str, commitment_ids: list[str] | None = None
) -> list[uuid.UUID]:
    """The period's invites (of only those commitments, when given)."""
    rows = await connection.fetch(
        """
        SELECT invite_id FROM invites
        WHERE period_id = $1 AND ($2::text[] IS NULL OR commitment_id = ANY($2::text[]))
        """,
        uuid.UUID(period_id),
        commitment_ids,
    )
    return [row["invite_id"] for row in rows]


async def set_declined(connection: asyncpg.Connection, invite: str, declined: bool) -> None:
    await connection.execute("UPDATE invites SET declined = $2 WHERE invite_id = $1", uuid.UUID(invite), declined)


async def record_skip(connection: asyncpg.Connection, period_id: str, commitment_id: str, reason: str) -> bool:
    """Remember that the commitment gets no invite this period; False when that was known already."""
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


# --- Reminders (rule 9) ---


async def periods_to_remind(connection: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Open periods with reminders whose reminders are not scheduled yet; locked, skipping those another
    worker holds."""
    return await connection.fetch(
        """
        SELECT period_id, due_at, reminder_days_before_due, project_timezone FROM periods
        WHERE NOT closed AND NOT reminders_scheduled AND reminder_days_before_due IS NOT NULL AND due_at > $1
        FOR UPDATE SKIP LOCKED
        """,
        now,
    )


async def invites_to_remind(connection: asyncpg.Connection, period_id: uuid.UUID) -> list[uuid.UUID]:
    """The period's invites whose contact has neither declined nor claimed."""
    rows = await connection.fetch(
        """
        SELECT i.invite_id FROM invites i
        WHERE i.period_id = $1 AND NOT i.declined
          AND NOT EXISTS (SELECT 1 FROM claimed_commitments c
                          WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id)
        """,
        period_id,
    )
    return [row["invite_id"] for row in rows]


async def mark_reminders_scheduled(connection: asyncpg.Connection, period_id: uuid.UUID) -> None:
    await connection.execute("UPDATE periods SET reminders_scheduled = true WHERE period_id = $1", period_id)


# --- Deliveries: the emails about invites ---


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


async def cancel_deliveries_to_former_contacts(
    connection: asyncpg.Connection, commitment_id: str, contact_user_ids: list[str]
) -> None:
    await connection.execute(
        """
        UPDATE deliveries d SET status = 'cancelled', last_reply = 'no longer a contact of the commitment'
        FROM invites i
        WHERE d.invite_id = i.invite_id AND d.status = 'pending' AND i.commitment_id = $1
          AND NOT i.contact_user_id = ANY($2::text[])
        """,
        commitment_id,
        contact_user_ids,
    )


async def pending_deliveries(connection: asyncpg.Connection, limit: int, in_flight: list[int]) -> list[Delivery]:
    """Deliveries due to be sent now, oldest first, leaving out those `in_flight`."""
    rows = await connection.fetch(
        """
        SELECT d.delivery_id, d.kind, d.message_id, d.attempts, i.*, p.project_id, p.project_name,
               p.project_timezone, p.start_date, p.end_date, p.due_date, p.due_at, p.opened_by,
               CASE WHEN p.closed THEN 'closed' ELSE 'open' END AS period_status,
               EXISTS (SELECT 1 FROM claimed_commitments c
                       WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id) AS claimed
        FROM deliveries d JOIN invites i USING (invite_id) JOIN periods p USING (period_id)
        WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND NOT d.delivery_id = ANY($2::bigint[])
        ORDER BY d.next_attempt_at, d.delivery_id
        LIMIT $1
        """,
        limit,
        in_flight,
    )
    return [_delivery(row) for row in rows]


def _delivery(row: asyncpg.Record) -> Delivery:
    invite = Invite(
        invite_id=str(row["invite_id"]),
        period_id=str(row["period_id"]),
        project_id=row["project_id"],
        project_name=row["project_name"],
        project_timezone=row["project_timezone"],
        commitment=InvitedCommitment(
            commitment_id=row["commitment_id"],
            number=row["commitment_number"],
            title=row["commitment_title"],
            vendor_name=row["vendor_name"],
        ),
        contact=Contact(user_id=row["contact_user_id"], name=row["contact_name"], email=row["contact_email"]),
        invited_by=Person.model_validate(row["opened_by"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
    )
    return Delivery(
        key=row["delivery_id"],
        kind=row["kind"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        invite=invite,
        period_status=row["period_status"],
        declined=row["declined"],
        claimed=row["claimed"],
    )


# --- Password mails ---


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


async def pending_password_mails(
    connection: asyncpg.Connection, limit: int, in_flight: list[str]
) -> list[PasswordMail]:
    rows = await connection.fetch(
        """
        SELECT * FROM password_mails
        WHERE status = 'pending' AND next_attempt_at <= now() AND NOT request_id = ANY($2::text[])
        ORDER BY next_attempt_at, request_id
        LIMIT $1
        """,
        limit,
        in_flight,
    )
    return [
        PasswordMail(
            key=row["request_id"],
            message_id=row["message_id"],
            attempts=row["attempts"],
            name=row["name"],
            email=row["email"],
            expires_at=row["expires_at"],
        )
        for row in rows
    ]


# --- What both mail tables have: `status`, `attempts`, `next_attempt_at`, `last_reply`, `sent_at` ---


@dataclass(frozen=True)
class MailTable:
    name: str
    key: str  # its primary key


DELIVERIES = MailTable("deliveries", "delivery_id")
PASSWORD_MAILS = MailTable("password_mails", "request_id")


async def next_attempt_in(connection: asyncpg.Connection, table: MailTable) -> timedelta | None:
    """How long until the next pending row is due; None when none waits. Backoff is wall-clock time (the
    database's), unlike due dates, which follow the service's clock."""
    return await connection.fetchval(
        f"SELECT min(next_attempt_at) - now() FROM {table.name} WHERE status = 'pending' AND next_attempt_at > now()"
    )


async def retry_later(
    connection: asyncpg.Connection, table: MailTable, key: object, attempts: int, delay: timedelta, reply: str
) -> None:
    await connection.execute(
        f"""
        UPDATE {table.name} SET attempts = $2, next_attempt_at = now() + $3, last_reply = $4
        WHERE {table.key} = $1 AND status = 'pending'
        """,
        key,
        attempts,
        delay,
        reply,
    )


async def finish(connection: asyncpg.Connection, table: MailTable, key: object, status: str, reply: str | None) -> bool:
    """Record how the row ended; False when it had ended already (nothing more to announce)."""
    return bool(
        await connection.fetchval(
            f"""
            UPDATE {table.name} SET status = $2, last_reply = $3, attempts = attempts + 1,
                sent_at = CASE WHEN $2 = 'sent' THEN now() END
            WHERE {table.key} = $1 AND status = 'pending' RETURNING true
            """,
            key,
            status,
            reply,
        )
    )
