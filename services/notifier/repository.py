"""All SQL of the notifier: the period view it invites from, invites, the mail waiting to be sent."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from services.notifier.domain import (
    CLAIM_APPROVED,
    LATE_CLAIM_EVENTS,
    ClaimReviewMail,
    Delivery,
    LateClaimMail,
    LateClaimStep,
    PasswordMail,
    PaymentScheduleReminderMail,
    claim_review_kind,
    claim_review_mail_id,
    claim_review_message_id,
    invite_id,
    late_claim_kind,
    late_claim_mail_id,
    late_claim_message_id,
    line_name,
    message_id,
    payment_schedule_reminder_mail_id,
)
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.base import Contact, Person
from shared.contracts.claims import ProgressClaimApproved, ProgressClaimRevisionRequested
from shared.contracts.invites import Invite, InvitedCommitment
from shared.tracing import current_trace_context

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


async def add_invites(
    connection: asyncpg.Connection, period_id: str, commitments: list[asyncpg.Record], opened_by: Person | None = None
) -> int:
    """An invite and its first delivery for each contact of the commitments; existing ones are left alone.
    `opened_by`, the period's opener, when the caller knows it (else it is read from the period)."""
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
        for commitment in commitments
        for contact in commitment["invoice_contacts"]
    ]
    if not invites:
        return 0
    await connection.executemany(
        """
        INSERT INTO invites (invite_id, period_id, commitment_id, commitment_number, commitment_title,
                             vendor_name, contact_user_id, contact_name, contact_email)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING
        """,
        invites,
    )
    return await add_deliveries(connection, [row[0] for row in invites], "invite", invited_by=opened_by)


async def has_invites(connection: asyncpg.Connection, period_id: str, commitment_id: str) -> bool:
    return await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invites WHERE period_id = $1 AND commitment_id = $2)",
        uuid.UUID(period_id),
        commitment_id,
    )


# Someone taken off a commitment gets no more mail about it: their invite's contact is no longer among the
# commitment's contacts as the ERP last sent them (`i` is the invite).
_STILL_A_CONTACT = """
    EXISTS (SELECT 1 FROM erp_commitments c
            WHERE c.commitment_id = i.commitment_id
              AND c.invoice_contacts @> jsonb_build_array(jsonb_build_object('user_id', i.contact_user_id)))
"""


async def invites_to_resend(
    connection: asyncpg.Connection,
    period_id: str,
    commitment_ids: list[str] | None = None,
    contact_user_ids: list[str] | None = None,
    only_not_answered: bool = False,
) -> list[uuid.UUID]:
    """The period's invites to contacts still on their commitments: of only those commitments and contacts,
    when given, and only those nobody has answered yet (neither Yes nor No), when asked."""
    rows = await connection.fetch(
        f"""
        SELECT invite_id FROM invites i
        WHERE period_id = $1
          AND ($2::text[] IS NULL OR commitment_id = ANY($2::text[]))
          AND ($3::text[] IS NULL OR contact_user_id = ANY($3::text[]))
          AND NOT ($4 AND answered)
          AND {_STILL_A_CONTACT}
        """,
        uuid.UUID(period_id),
        commitment_ids,
        contact_user_ids,
        only_not_answered,
    )
    return [row["invite_id"] for row in rows]


async def record_answer(connection: asyncpg.Connection, invite: str, declined: bool) -> None:
    """The contact answered (Yes, or No when `declined`); the latest answer counts."""
    await connection.execute(
        "UPDATE invites SET answered = true, declined = $2 WHERE invite_id = $1", uuid.UUID(invite), declined
    )


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
    """The period's invites whose contact is still on the commitment and has neither declined nor claimed."""
    rows = await connection.fetch(
        f"""
        SELECT i.invite_id FROM invites i
        WHERE i.period_id = $1 AND NOT i.declined
          AND NOT EXISTS (SELECT 1 FROM claimed_commitments c
                          WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id)
          AND {_STILL_A_CONTACT}
        """,
        period_id,
    )
    return [row["invite_id"] for row in rows]


async def mark_reminders_scheduled(connection: asyncpg.Connection, period_id: uuid.UUID) -> None:
    await connection.execute("UPDATE periods SET reminders_scheduled = true WHERE period_id = $1", period_id)


# --- Deliveries: the emails about invites ---


async def add_deliveries(
    connection: asyncpg.Connection,
    invite_ids: list[uuid.UUID],
    kind: str,
    request: str = "",
    invited_by: Person | None = None,
) -> int:
    """A delivery row per invite, written before anything is sent; one that exists already is kept. It keeps the
    trace of what caused it (shared/tracing.py), which its send and its email then join.

    Each row keeps who sends it (the email's Invited By): `invited_by` when given (who asked for a resend);
    otherwise the invite's last inviter (a reminder: whoever asked for its latest invite or resend), or, for
    the first invite, the period's opener."""
    added = await connection.fetch(
        """
        INSERT INTO deliveries (invite_id, kind, request, message_id, trace_context, invited_by)
        SELECT sending.invite, $3, $4, sending.message, $6::jsonb, COALESCE(
            $5::jsonb,
            -- (a first invite has no delivery before it)
            (SELECT d.invited_by FROM deliveries d
             WHERE $3 <> 'invite' AND d.invite_id = sending.invite AND d.kind IN ('invite', 'resend')
               AND d.invited_by IS NOT NULL
             ORDER BY d.delivery_id DESC LIMIT 1),
            (SELECT p.opened_by FROM invites i JOIN periods p USING (period_id) WHERE i.invite_id = sending.invite))
        FROM unnest($1::uuid[], $2::text[]) AS sending (invite, message)
        ON CONFLICT DO NOTHING RETURNING delivery_id
        """,
        invite_ids,
        [message_id(str(invite), kind, request) for invite in invite_ids],
        kind,
        request,
        invited_by.model_dump() if invited_by else None,
        current_trace_context() or None,
    )
    return len(added)


async def refresh_delivery_statistics(connection: asyncpg.Connection) -> None:
    """After thousands of invites or deliveries written in one transaction: until autovacuum comes, the planner
    would think the tables as small as before, and read every pending row to lease a few (ANALYZE counts this
    transaction's own rows)."""
    await connection.execute("ANALYZE invites, deliveries")


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


async def claim_deliveries(
    connection: asyncpg.Connection, limit: int, lease_time: timedelta, leased_by: str, in_flight: list[int]
) -> list[Delivery]:
    """Deliveries due to be sent now, oldest first, leased to the caller (see `_claim`); not those `in_flight`."""
    rows = await _lease(
        connection,
        DELIVERIES,
        (limit, lease_time, leased_by, in_flight),
        """
        SELECT m.delivery_id, m.kind, m.message_id, m.attempts, m.lease, m.trace_context, i.*, p.project_id,
               p.project_name, p.project_timezone, p.start_date, p.end_date, p.due_date, p.due_at,
               COALESCE(m.invited_by, p.opened_by) AS invited_by,
               CASE WHEN p.closed THEN 'closed' ELSE 'open' END AS period_status,
               EXISTS (SELECT 1 FROM claimed_commitments c
                       WHERE c.period_id = i.period_id AND c.commitment_id = i.commitment_id) AS claimed
        FROM m JOIN invites i USING (invite_id) JOIN periods p USING (period_id)
        """,
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
        invited_by=Person.model_validate(row["invited_by"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        due_date=row["due_date"],
        due_at=row["due_at"],
    )
    return Delivery(
        **_leased(row, "delivery_id"),
        kind=row["kind"],
        invite=invite,
        period_status=row["period_status"],
        declined=row["declined"],
        claimed=row["claimed"],
        trace_context=row["trace_context"] or {},
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


async def claim_password_mails(
    connection: asyncpg.Connection, limit: int, lease_time: timedelta, leased_by: str, in_flight: list[str]
) -> list[PasswordMail]:
    """Password mails due to be sent now, oldest first, leased to the caller (see `_claim`)."""
    rows = await _lease(connection, PASSWORD_MAILS, (limit, lease_time, leased_by, in_flight))
    return [
        PasswordMail(
            **_leased(row, "request_id"),
            name=row["name"],
            email=row["email"],
            expires_at=row["expires_at"],
        )
        for row in rows
    ]


# --- Claim review mails: a progress claim approved or sent back to revise (rule 18) ---


async def add_claim_review_mail(
    connection: asyncpg.Connection,
    review: ProgressClaimApproved | ProgressClaimRevisionRequested,
    line_names: dict[str, str],
) -> bool:
    """The email of one review, written before it is sent, keeping the trace of the review's event; a review of
    that revision already here (the event redelivered) is left as it is."""
    kind = claim_review_kind(review)
    key = claim_review_mail_id(review.claim_id, kind, review.revision)
    inserted = await connection.fetchval(
        """
        INSERT INTO claim_review_mails (mail_id, claim_id, kind, revision, review, message_id, trace_context,
                                        line_names)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8::jsonb)
        ON CONFLICT (mail_id) DO NOTHING RETURNING true
        """,
        key,
        review.claim_id,
        kind,
        review.revision,
        review.model_dump(mode="json"),
        claim_review_message_id(review.claim_id, kind, review.revision),
        current_trace_context() or None,
        line_names,
    )
    return bool(inserted)


async def line_names(connection: asyncpg.Connection, commitment_id: str) -> dict[str, str]:
    """The commitment's schedule of values lines by id, named, in the schedule's order; empty while the ERP
    read model does not know the commitment (topics are not ordered: the email names unknown lines by id)."""
    lines = await connection.fetchval(
        "SELECT schedule_of_values FROM erp_commitments WHERE commitment_id = $1", commitment_id
    )
    return {
        line["line_id"]: line_name(line.get("cost_code", ""), line.get("description", ""), line["line_id"])
        for line in lines or []
    }


async def claim_claim_review_mails(
    connection: asyncpg.Connection, limit: int, lease_time: timedelta, leased_by: str, in_flight: list[str]
) -> list[ClaimReviewMail]:
    """Claim review mails due to be sent now, oldest first, leased to the caller (see `_claim`)."""
    # The project's time zone from the period view, when it knows the period (compared as text: an id that is
    # no uuid must not fail the whole claim).
    rows = await _lease(
        connection,
        CLAIM_REVIEW_MAILS,
        (limit, lease_time, leased_by, in_flight),
        "SELECT m.*, p.project_timezone FROM m LEFT JOIN periods p ON p.period_id::text = m.review->>'period_id'",
    )
    return [
        ClaimReviewMail(
            **_leased(row, "mail_id"),
            kind=row["kind"],
            review=(
                ProgressClaimApproved if row["kind"] == CLAIM_APPROVED else ProgressClaimRevisionRequested
            ).model_validate(row["review"]),
            line_names=row["line_names"],
            project_timezone=row["project_timezone"],
            trace_context=row["trace_context"] or {},
        )
        for row in rows
    ]


# --- The payment-schedule clock (rule 18c) and its reminders ---


async def start_payment_schedule_clock(
    connection: asyncpg.Connection, submitted: dict, claim_id: str, revision: int, project_id: str, due: date
) -> bool:
    """The clock of one submission; the same submission heard again is left as it is."""
    return bool(
        await connection.fetchval(
            """
            INSERT INTO payment_schedule_clocks (claim_id, revision, project_id, submitted, due)
            VALUES ($1, $2, $3, $4::jsonb, $5)
            ON CONFLICT (claim_id, revision) DO NOTHING RETURNING true
            """,
            claim_id,
            revision,
            project_id,
            submitted,
            due,
        )
    )


async def stop_payment_schedule_clock(connection: asyncpg.Connection, claim_id: str, revision: int) -> None:
    """A review of this revision (or a later one) stops its clock and cancels a reminder not sent yet, even one
    leased to a worker: the worker looks again just before sending it (`PaymentScheduleReminderWorker.withdrawn`).
    """
    await connection.execute(
        """
        UPDATE payment_schedule_clocks SET status = 'stopped'
        WHERE claim_id = $1 AND revision <= $2 AND status = 'running'
        """,
        claim_id,
        revision,
    )
    await connection.execute(
        """
        UPDATE payment_schedule_reminder_mails
        SET status = 'cancelled', last_reply = 'the claim was reviewed before the reminder went'
        WHERE claim_id = $1 AND revision <= $2 AND status = 'pending'
        """,
        claim_id,
        revision,
    )


async def lapse_payment_schedule_clock(connection: asyncpg.Connection, claim_id: str, revision: int) -> None:
    """The clock's due day passed before its reminder could go: it ends without one."""
    await connection.execute(
        "UPDATE payment_schedule_clocks SET status = 'lapsed' WHERE claim_id = $1 AND revision = $2",
        claim_id,
        revision,
    )


async def running_payment_schedule_clocks(connection: asyncpg.Connection, due_by: date) -> list[asyncpg.Record]:
    """The running clocks due by `due_by`, with their project as the ERP read model knows it now, locked for this
    transaction (other replicas skip them)."""
    return await connection.fetch(
        """
        SELECT c.*, p.name AS project_name, p.region, p.timezone,
               k.number AS commitment_number, k.title AS commitment_title
        FROM payment_schedule_clocks c
        LEFT JOIN erp_projects p USING (project_id)
        LEFT JOIN erp_commitments k ON k.commitment_id = c.submitted->>'commitment_id'
        WHERE c.status = 'running' AND c.due <= $1
        ORDER BY c.due, c.claim_id
        FOR UPDATE OF c SKIP LOCKED
        """,
        due_by,
    )


async def project_administrators(connection: asyncpg.Connection, project_id: str) -> list[dict]:
    """Who holds Admin on the project's Commitments tool now, with an address to write to."""
    rows = await connection.fetch(
        """
        SELECT user_id, name, email FROM erp_project_members
        WHERE project_id = $1 AND NOT removed AND commitments_permission = 'admin' AND coalesce(email, '') <> ''
        ORDER BY user_id
        """,
        project_id,
    )
    return [{"id": row["user_id"], "name": row["name"] or "", "email": row["email"]} for row in rows]


async def add_payment_schedule_reminders(
    connection: asyncpg.Connection, clock: asyncpg.Record, administrators: list[dict], reminder: dict
) -> int:
    """One email per administrator, and the clock marked reminded in the same transaction: once."""
    added = 0
    for administrator in administrators:
        key = payment_schedule_reminder_mail_id(clock["claim_id"], clock["revision"], administrator["id"])
        added += bool(
            await connection.fetchval(
                """
                INSERT INTO payment_schedule_reminder_mails
                    (mail_id, claim_id, revision, administrator, reminder, message_id)
                VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)
                ON CONFLICT (mail_id) DO NOTHING RETURNING true
                """,
                key,
                clock["claim_id"],
                clock["revision"],
                administrator,
                reminder,
                f"<{key}@invite-to-bill>",
            )
        )
    await connection.execute(
        "UPDATE payment_schedule_clocks SET status = 'reminded' WHERE claim_id = $1 AND revision = $2",
        clock["claim_id"],
        clock["revision"],
    )
    return added


async def claim_payment_schedule_reminder_mails(
    connection: asyncpg.Connection, limit: int, lease_time: timedelta, leased_by: str, in_flight: list[str]
) -> list[PaymentScheduleReminderMail]:
    """Reminders due to be sent now, oldest first, leased to the caller (see `_claim`)."""
    rows = await _lease(connection, PAYMENT_SCHEDULE_REMINDER_MAILS, (limit, lease_time, leased_by, in_flight))
    return [
        PaymentScheduleReminderMail(
            **_leased(row, "mail_id"),
            administrator=row["administrator"],
            reminder=row["reminder"],
        )
        for row in rows
    ]


# --- Late claim mails: a request to claim late, allowed or refused (rule 18b) ---


async def add_late_claim_mail(connection: asyncpg.Connection, step: LateClaimStep) -> bool:
    """The email of one step of a request, written before it is sent; a step already here is left as it is."""
    kind = late_claim_kind(step)
    inserted = await connection.fetchval(
        """
        INSERT INTO late_claim_mails (mail_id, request_id, kind, event, message_id, trace_context)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb)
        ON CONFLICT (mail_id) DO NOTHING RETURNING true
        """,
        late_claim_mail_id(step.request_id, kind),
        step.request_id,
        kind,
        step.model_dump(mode="json"),
        late_claim_message_id(step.request_id, kind),
        current_trace_context() or None,
    )
    return bool(inserted)


async def claim_late_claim_mails(
    connection: asyncpg.Connection, limit: int, lease_time: timedelta, leased_by: str, in_flight: list[str]
) -> list[LateClaimMail]:
    """Late claim mails due to be sent now, oldest first, leased to the caller (see `_claim`), with the names of
    the project and commitment as the ERP read model knows them, and the project's time zone."""
    rows = await _lease(
        connection,
        LATE_CLAIM_MAILS,
        (limit, lease_time, leased_by, in_flight),
        """
        SELECT m.*, pr.name AS project_name, c.number || ' ' || c.title AS commitment, pr.timezone
        FROM m
        LEFT JOIN erp_projects pr ON pr.project_id = m.event->>'project_id'
        LEFT JOIN erp_commitments c ON c.commitment_id = m.event->>'commitment_id'
        """,
    )
    return [
        LateClaimMail(
            **_leased(row, "mail_id"),
            kind=row["kind"],
            step=LATE_CLAIM_EVENTS[row["kind"]].model_validate(row["event"]),
            project_name=row["project_name"],
            commitment=row["commitment"],
            project_timezone=row["timezone"],
            trace_context=row["trace_context"] or {},
        )
        for row in rows
    ]


# --- What the mail tables have: `status`, `attempts`, `next_attempt_at`, `last_reply`, `sent_at`, a lease ---


@dataclass(frozen=True)
class MailTable:
    name: str  # also the channel its new rows are announced on
    key: str  # its primary key
    key_type: str = "text"  # the key's SQL type


DELIVERIES = MailTable("deliveries", "delivery_id", "bigint")
PASSWORD_MAILS = MailTable("password_mails", "request_id")
CLAIM_REVIEW_MAILS = MailTable("claim_review_mails", "mail_id")
PAYMENT_SCHEDULE_REMINDER_MAILS = MailTable("payment_schedule_reminder_mails", "mail_id")
LATE_CLAIM_MAILS = MailTable("late_claim_mails", "mail_id")


def _leased(row: asyncpg.Record, key: str) -> dict:
    """What every leased mail row carries: its key (in column `key`), Message-ID, attempts so far and lease."""
    return {"key": row[key], "message_id": row["message_id"], "attempts": row["attempts"], "lease": row["lease"]}


async def _lease(
    connection: asyncpg.Connection,
    table: MailTable,
    arguments: tuple[int, timedelta, str, list],
    select: str = "SELECT m.* FROM m",
) -> list[asyncpg.Record]:
    """Lease rows due now (see `_claim`; `arguments` are its limit, lease time, holder and keys in flight) and read
    them oldest first with `select`, which names the leased rows `m` (and joins what their emails need)."""
    return await connection.fetch(
        f"WITH m AS ({_claim(table)}) {select} ORDER BY m.next_attempt_at, m.{table.key}", *arguments
    )


def _claim(table: MailTable) -> str:
    """Lease up to $1 rows due now for $2 to $3, leaving out the keys in $4; returns the rows leased.

    Each row gets a lease of its own. Rows another worker is claiming at this moment are skipped, not waited
    for (SKIP LOCKED), and a leased row is left alone until its lease expires: its holder renews it while the
    send is in flight, so it expires only when the holder died or lost its database for that long."""
    return f"""
        UPDATE {table.name} SET lease = gen_random_uuid(), lease_expires_at = now() + $2, leased_by = $3
        WHERE {table.key} IN (
            SELECT {table.key} FROM {table.name}
            WHERE status = 'pending' AND next_attempt_at <= now()
              AND (lease_expires_at IS NULL OR lease_expires_at <= now())
              AND NOT {table.key} = ANY($4)
            ORDER BY next_attempt_at, {table.key}
            LIMIT $1
            FOR UPDATE SKIP LOCKED
        )
        RETURNING *
    """


async def renew_leases(
    connection: asyncpg.Connection, table: MailTable, leases: list[uuid.UUID], lease_time: timedelta
) -> set[uuid.UUID]:
    """Extend the leases still held; those not returned were taken over, or their rows ended meanwhile."""
    rows = await connection.fetch(
        f"""
        UPDATE {table.name} SET lease_expires_at = now() + $2
        WHERE lease = ANY($1::uuid[]) AND status = 'pending' RETURNING lease
        """,
        leases,
        lease_time,
    )
    return {row["lease"] for row in rows}


async def release_leases(connection: asyncpg.Connection, table: MailTable, leases: list[uuid.UUID]) -> None:
    """Give rows back unsent, at once, and wake the other replicas' workers to take them."""
    async with connection.transaction():
        await connection.execute(
            f"""
            UPDATE {table.name} SET lease = NULL, lease_expires_at = NULL
            WHERE lease = ANY($1::uuid[]) AND status = 'pending'
            """,
            leases,
        )
        await connection.execute("SELECT pg_notify($1, '')", table.name)


async def next_attempt_in(connection: asyncpg.Connection, table: MailTable) -> timedelta | None:
    """How long until the next pending row is due, or its lease expires; None when none waits. Backoff and
    leases are wall-clock time (the database's), unlike due dates, which follow the service's clock."""
    return await connection.fetchval(
        f"""
        SELECT min(greatest(next_attempt_at, lease_expires_at)) - now() FROM {table.name}
        WHERE status = 'pending' AND greatest(next_attempt_at, lease_expires_at) > now()
        """
    )


async def retry_later(
    connection: asyncpg.Connection,
    table: MailTable,
    key: object,
    lease: uuid.UUID,
    attempts: int,
    delay: timedelta,
    reply: str,
) -> datetime | None:
    """Give the row back, to be tried again after `delay` by any replica: when it will be (the database's
    time), or None when the lease was lost and nothing was recorded."""
    return await connection.fetchval(
        f"""
        UPDATE {table.name} SET attempts = $3, next_attempt_at = now() + $4, last_reply = $5,
            lease = NULL, lease_expires_at = NULL
        WHERE {table.key} = $1 AND lease = $2 AND status = 'pending' RETURNING next_attempt_at
        """,
        key,
        lease,
        attempts,
        delay,
        reply,
    )


async def mail_status(connection: asyncpg.Connection, table: MailTable, key: object) -> str | None:
    """The row's status now (pending, sent, failed, cancelled); None when there is no such row."""
    return await connection.fetchval(f"SELECT status FROM {table.name} WHERE {table.key} = $1", key)


async def finish(
    connection: asyncpg.Connection, table: MailTable, key: object, lease: uuid.UUID, status: str, reply: str | None
) -> bool:
    """Record how the row ended; False when it had ended already, or its lease was taken over (nothing more to
    announce: the new holder records its own outcome)."""
    return key in await finish_all(connection, table, [(key, lease, status, reply)])


async def finish_all(
    connection: asyncpg.Connection, table: MailTable, outcomes: list[tuple[object, uuid.UUID, str, str | None]]
) -> set:
    """`finish` for many rows in one statement, each (key, lease, status, reply): the keys of the rows recorded."""
    if not outcomes:
        return set()
    keys, leases, statuses, replies = (list(column) for column in zip(*outcomes, strict=True))
    rows = await connection.fetch(
        f"""
        UPDATE {table.name} t SET status = o.status, last_reply = o.reply, attempts = t.attempts + 1,
            lease_expires_at = NULL, sent_at = CASE WHEN o.status = 'sent' THEN now() END
        FROM unnest($1::{table.key_type}[], $2::uuid[], $3::text[], $4::text[]) AS o (key, lease, status, reply)
        WHERE t.{table.key} = o.key AND t.lease = o.lease AND t.status = 'pending'
        RETURNING t.{table.key}
        """,
        keys,
        leases,
        statuses,
        replies,
    )
    return {row[0] for row in rows}
