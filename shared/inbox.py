"""The inbox: the ids of events a consumer has already handled, recorded in the handler's transaction."""

import asyncpg


async def first_delivery(connection: asyncpg.Connection, consumer: str, event_id: str, event_type: str) -> bool:
    """Record the event as handled by `consumer`; False when it already was (a redelivery)."""
    inserted = await connection.fetchval(
        """
        INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING true
        """,
        consumer,
        event_id,
        event_type,
    )
    return bool(inserted)
