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


async def first_deliveries(connection: asyncpg.Connection, consumer: str, events: list[tuple[str, str]]) -> set[str]:
    """Record the events (id, type) as handled by `consumer`, in one statement; the ids of those that were not
    already (each id once, however often it is among `events`)."""
    rows = await connection.fetch(
        """
        INSERT INTO inbox (consumer, event_id, event_type)
        SELECT $1, event_id, event_type FROM unnest($2::text[], $3::text[]) AS handled (event_id, event_type)
        ON CONFLICT DO NOTHING RETURNING event_id
        """,
        consumer,
        [event_id for event_id, _ in events],
        [event_type for _, event_type in events],
    )
    return {row["event_id"] for row in rows}
