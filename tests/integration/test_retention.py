"""Retention (shared/retention.py) against a real service database: old published outbox rows and old inbox rows
go; what is recent, or not yet published, stays; and two replicas prune one at a time."""

import asyncio
import uuid

import pytest

from shared import outbox
from shared.contracts.periods import BillingPeriodClosed
from shared.retention import Retention
from shared.settings import Settings
from tests.support import service_settings


def closed(period_id: str) -> BillingPeriodClosed:
    return BillingPeriodClosed(
        period_id=period_id, project_id="P-RET", closed_at="2026-11-20T00:00:00Z", reason="closed_by_administrator"
    )


async def recorded(pool, *, published_days_ago: int | None, recorded_days_ago: int) -> str:
    async with pool.acquire() as connection, connection.transaction():
        envelope = await outbox.record(connection, closed(str(uuid.uuid4())))
        await connection.execute(
            """
            UPDATE outbox SET created_at = now() - make_interval(days => $2),
                published_at = now() - make_interval(days => $3)
            WHERE event_id = $1
            """,
            uuid.UUID(envelope.id),
            recorded_days_ago,
            published_days_ago,
        )
    return envelope.id


async def test_retention_prunes_old_published_events_and_old_inbox_rows_and_keeps_the_rest(
    infrastructure, database_for
):
    database = await database_for("periods")
    pool = database.pool
    old_published = await recorded(pool, published_days_ago=31, recorded_days_ago=31)
    recent_published = await recorded(pool, published_days_ago=2, recorded_days_ago=2)
    old_unpublished = await recorded(pool, published_days_ago=None, recorded_days_ago=90)
    await pool.execute(
        """
        INSERT INTO inbox (consumer, event_id, event_type, handled_at) VALUES
            ('periods.erp.commitments', 'old', 'x', now() - interval '61 days'),
            ('periods.erp.commitments', 'recent', 'x', now() - interval '59 days')
        """
    )
    retention = Retention(service_settings(infrastructure, "periods", database.url))
    async with pool.acquire() as connection:
        assert await retention.work(connection) is not None  # it comes back in an hour

    remaining = {str(row["event_id"]) for row in await pool.fetch("SELECT event_id FROM outbox")}
    assert old_published not in remaining
    assert {recent_published, old_unpublished} <= remaining, "recent or never published: kept"
    assert [row["event_id"] for row in await pool.fetch("SELECT event_id FROM inbox ORDER BY event_id")] == ["recent"]


async def test_two_replicas_retention_jobs_prune_one_at_a_time(infrastructure, database_for):
    database = await database_for("periods")
    settings = service_settings(infrastructure, "periods", database.url)
    replicas = [Retention(settings), Retention(settings)]
    for replica in replicas:
        replica.start()
    try:
        holders = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted"
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_try_advisory_lock%' AND datname = $1"
        )
        async with asyncio.timeout(20):
            while await database.pool.fetchval(holders, Retention.lock_key) != 1:
                await asyncio.sleep(0.05)
        name = database.url.rsplit("/", 1)[1]
        async with asyncio.timeout(20):
            while await database.pool.fetchval(waiting, name) < 1:  # the other keeps asking for the lock
                await asyncio.sleep(0.05)
        assert await database.pool.fetchval(holders, Retention.lock_key) == 1
    finally:
        await asyncio.gather(*(replica.stop() for replica in replicas))


def test_an_inbox_kept_for_less_time_than_the_outbox_is_refused_saying_why():
    with pytest.raises(ValueError, match="INBOX_RETENTION_DAYS \\(7\\) must be at least OUTBOX_RETENTION_DAYS"):
        Settings(outbox_retention_days=30, inbox_retention_days=7)
