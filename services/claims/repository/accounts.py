"""Accounts' SQL: passwords (their hashes), one-time links to set them, and the attempts that are throttled.

The users themselves are the ERP's directory (`erp_users`, read through `shared.erp`).
"""

import uuid
from datetime import datetime

import asyncpg

from services.claims.domain.accounts import PasswordRequest


async def lock_throttle_key(connection: asyncpg.Connection, throttle_key: str) -> None:
    """Until the transaction ends, another attempt counted under the same key waits."""
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", throttle_key)


async def password_hash(connection: asyncpg.Connection, user_id: str) -> str | None:
    return await connection.fetchval("SELECT password_hash FROM accounts WHERE user_id = $1", user_id)


async def save_password_hash(connection: asyncpg.Connection, user_id: str, password_hash: str, now: datetime) -> None:
    await connection.execute(
        """
        INSERT INTO accounts (user_id, password_hash, changed_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, changed_at = excluded.changed_at
        """,
        user_id,
        password_hash,
        now,
    )


# --- One-time links to set a password ---


async def add_password_request(
    connection: asyncpg.Connection, request_id: str, user_id: str, now: datetime, expires_at: datetime
) -> None:
    await connection.execute(
        "INSERT INTO password_requests (request_id, user_id, requested_at, expires_at) VALUES ($1, $2, $3, $4)",
        uuid.UUID(request_id),
        user_id,
        now,
        expires_at,
    )


async def find_password_request(
    connection: asyncpg.Connection, request_id: str, *, lock: bool = False
) -> PasswordRequest | None:
    """The request with its user's email now; `lock` makes a second use of the link wait."""
    if lock:
        await connection.execute(
            "SELECT 1 FROM password_requests WHERE request_id = $1 FOR UPDATE", uuid.UUID(request_id)
        )
    row = await connection.fetchrow(
        """
        SELECT r.user_id, r.expires_at, r.used_at, u.email
        FROM password_requests r JOIN erp_users u USING (user_id) WHERE r.request_id = $1
        """,
        uuid.UUID(request_id),
    )
    if row is None:
        return None
    return PasswordRequest(
        user_id=row["user_id"], email=row["email"], expires_at=row["expires_at"], used_at=row["used_at"]
    )


async def mark_links_used(connection: asyncpg.Connection, user_id: str, now: datetime) -> None:
    await connection.execute(
        "UPDATE password_requests SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL", user_id, now
    )


async def links_sent_since(connection: asyncpg.Connection, user_id: str, since: datetime) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM password_requests WHERE user_id = $1 AND requested_at > $2", user_id, since
    )


# --- Throttled attempts ---


async def record_attempts(
    connection: asyncpg.Connection, keys: list[str], now: datetime, attempt_id: str | None = None
) -> None:
    await connection.executemany(
        "INSERT INTO throttled_attempts (throttle_key, attempted_at, attempt_id) VALUES ($1, $2, $3)",
        [(key, now, uuid.UUID(attempt_id) if attempt_id else None) for key in keys],
    )


async def forget_attempt(connection: asyncpg.Connection, attempt_id: str) -> None:
    await connection.execute("DELETE FROM throttled_attempts WHERE attempt_id = $1", uuid.UUID(attempt_id))


async def attempts_since(connection: asyncpg.Connection, keys: list[str], since: datetime) -> dict[str, int]:
    """How many attempts each key made since `since`; older attempts, of every key, are forgotten first."""
    await connection.execute("DELETE FROM throttled_attempts WHERE attempted_at < $1", since)
    return dict(
        await connection.fetch(
            """
            SELECT throttle_key, count(*) FROM throttled_attempts
            WHERE throttle_key = ANY($1::text[]) AND attempted_at >= $2 GROUP BY throttle_key
            """,
            keys,
            since,
        )
    )


async def forget_attempts(connection: asyncpg.Connection, key: str) -> None:
    await connection.execute("DELETE FROM throttled_attempts WHERE throttle_key = $1", key)
