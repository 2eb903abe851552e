"""Every service's copy of the accounts' session versions, kept from the claims service's SessionsEnded.

The claims service changes its own copy in the transaction that ends the sessions (`end_sessions`), so it
refuses an ended session at once; the other services refuse it once the event has reached them.
"""

from datetime import datetime

import asyncpg

from shared.contracts.accounts import SessionsEnded
from shared.contracts.topics import ACCOUNTS
from shared.envelope import CloudEvent
from shared.messaging import Route


async def session_version(connection: asyncpg.Connection | asyncpg.Pool, user_id: str) -> int:
    """The account's version as far as this service knows; 0 while none of its sessions has been ended."""
    return await connection.fetchval("SELECT session_version FROM session_versions WHERE user_id = $1", user_id) or 0


async def end_sessions(connection: asyncpg.Connection, user_id: str, now: datetime) -> int:
    """The claims service's part: the account's next version, which every session made before lacks."""
    return await connection.fetchval(
        """
        INSERT INTO session_versions (user_id, session_version, ended_at) VALUES ($1, 1, $2)
        ON CONFLICT (user_id) DO UPDATE
            SET session_version = session_versions.session_version + 1, ended_at = excluded.ended_at
        RETURNING session_version
        """,
        user_id,
        now,
    )


async def sessions_ended(connection: asyncpg.Connection, event: CloudEvent, ended: SessionsEnded) -> None:
    """Keep the higher version: a redelivered or older event (or the claims service's own) changes nothing."""
    await connection.execute(
        """
        INSERT INTO session_versions AS known (user_id, session_version, ended_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE
            SET session_version = excluded.session_version, ended_at = excluded.ended_at
            WHERE known.session_version < excluded.session_version
        """,
        ended.user_id,
        ended.session_version,
        ended.ended_at,
    )


def session_version_routes() -> dict[str, dict[str, Route]]:
    """The `accounts` route every service has (`shared.service` adds it), for `shared.messaging.consume`."""
    return {ACCOUNTS: {SessionsEnded.TYPE: Route(SessionsEnded, sessions_ended)}}
