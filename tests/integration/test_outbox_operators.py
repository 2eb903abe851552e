"""`itb outbox list` and `itb outbox retry` against a real service database, found as `itb` finds it."""

import asyncio
import uuid

import pytest

from deploy.cli import main
from shared import outbox
from shared.contracts.periods import BillingPeriodClosed


def closed(period_id: str) -> BillingPeriodClosed:
    return BillingPeriodClosed(
        period_id=period_id, project_id="P-OPS", closed_at="2026-11-20T00:00:00Z", reason="closed_by_administrator"
    )


@pytest.fixture
async def periods(database_for, monkeypatch, tmp_path):
    """The periods database, where `itb` looks for it: DATABASE_URL names the server, DATABASE_NAME the database."""
    database = await database_for("periods")
    monkeypatch.setenv("ITB_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database.url)
    monkeypatch.setenv("DATABASE_NAME", database.url.rsplit("/", 1)[1])
    return database


async def refused_by_kafka(pool, aggregate_id: str) -> str:
    """An event as the relay leaves one Kafka refused for good."""
    async with pool.acquire() as connection, connection.transaction():
        envelope = await outbox.record(connection, closed(aggregate_id))
        await connection.execute(
            "UPDATE outbox SET failed_at = now(), failure = $2 WHERE event_id = $1",
            uuid.UUID(envelope.id),
            "TopicAuthorizationFailedError: [Error 29] TopicAuthorizationFailedError",
        )
    return envelope.id


async def itb(*arguments: str) -> int:
    return await asyncio.to_thread(main, list(arguments))


async def test_the_listing_shows_waiting_held_and_failed_events_with_the_reason(periods, capsys):
    period_a, period_b = str(uuid.uuid4()), str(uuid.uuid4())
    failed = await refused_by_kafka(periods.pool, period_a)
    async with periods.pool.acquire() as connection:
        await outbox.record(connection, closed(period_a))  # held behind the failed one
        await outbox.record(connection, closed(period_b))

    await periods.pool.execute("UPDATE outbox SET created_at = now() - interval '3 minutes' WHERE failed_at IS NULL")
    assert await itb("outbox", "list", "--service", "periods") == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        "periods: 2 waiting (1 held behind a failed event of their aggregate), the oldest for 3 min, 1 failed\n"
    )
    assert f"{failed}  billing.period.closed.v1  on billing.periods, key {period_a}" in printed
    assert "    TopicAuthorizationFailedError: [Error 29]" in printed
    assert await itb("outbox") == 0  # the listing, of every service
    assert capsys.readouterr().out.startswith("periods: 2 waiting")


async def test_retrying_one_event_puts_it_back_in_line_and_an_unknown_id_is_refused_saying_where_to_look(
    periods, capsys
):
    period_a, period_b = str(uuid.uuid4()), str(uuid.uuid4())
    failed = await refused_by_kafka(periods.pool, period_a)
    other = await refused_by_kafka(periods.pool, period_b)

    assert await itb("outbox", "retry", failed, "--service", "periods") == 0
    assert capsys.readouterr().out == f"periods: 1 failed event(s) back in line: {failed}\n"
    still_failed = await periods.pool.fetch("SELECT event_id FROM outbox WHERE failed_at IS NOT NULL")
    assert [str(row["event_id"]) for row in still_failed] == [other]

    assert await itb("outbox", "retry", failed, "--service", "periods") == 2
    assert f"No failed event {failed} in the outbox of periods; `itb outbox list`" in capsys.readouterr().err
    assert await itb("outbox", "retry", "not-an-id", "--service", "periods") == 2


async def test_retrying_all_puts_every_failed_event_back(periods, capsys):
    for aggregate in (str(uuid.uuid4()), str(uuid.uuid4())):
        await refused_by_kafka(periods.pool, aggregate)
    assert await itb("outbox", "retry", "--all", "--service", "periods") == 0
    assert "periods: 2 failed event(s) back in line" in capsys.readouterr().out
    assert await periods.pool.fetchval("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL") == 0
    assert await itb("outbox", "retry", "--all", "--service", "periods") == 0
    assert capsys.readouterr().out == "No failed events: nothing to retry.\n"
