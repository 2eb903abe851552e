"""`/metrics` over real HTTP: what Prometheus scrapes from a service, with the real broker and database behind it."""

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.periods.app import definition as periods
from shared import outbox
from shared.contracts.periods import BillingPeriodClosed
from shared.contracts.topics import ERP_COMMITMENTS, dead_letter_topic
from tests.support import publish, running_service, service_settings, topic_reader


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, its labels sorted) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_requests_by_route_messages_dead_letters_and_show_the_outbox_and_readiness(
    infrastructure, database_for
):
    database = await database_for("periods")
    bootstrap = infrastructure.bootstrap_servers
    trace = str(uuid.uuid4())
    settings = service_settings(infrastructure, "periods", database.url, outbox_waiting_limit_seconds=3600)
    async with running_service(periods, settings) as service, httpx.AsyncClient(base_url=service.base_url) as client:
        for period_id in (str(uuid.uuid4()), str(uuid.uuid4())):
            assert (await client.get(f"/api/billing-periods/{period_id}")).status_code == 401
        async with topic_reader(bootstrap, dead_letter_topic("periods")) as dead_letters:
            await publish(bootstrap, ERP_COMMITMENTS, "SC-M", b"not json", {"x-trace": trace})
            await dead_letters.wait_for(lambda record: ("x-trace", trace.encode()) in record.headers)
        # An event the relay cannot publish now: the relay is stopped, so it waits.
        await service.app.state.workers[0].stop()
        async with database.pool.acquire() as connection, connection.transaction():
            await outbox.record(
                connection,
                BillingPeriodClosed(
                    period_id=str(uuid.uuid4()),
                    project_id="P-M",
                    closed_at="2026-11-20T00:00:00Z",
                    reason="closed_by_administrator",
                ),
            )

        scraped = await client.get("/metrics")

    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    figures = samples(scraped.text)
    route = (("method", "GET"), ("route", "/api/billing-periods/{period_id}"), ("status", "401"))
    assert figures[("itb_http_requests_total", route)] == 2  # one series for the route, whatever the id
    # At least ours: the consumer reads the topic from its beginning, other tests' malformed records included.
    assert figures[("itb_dead_letters_total", (("topic", ERP_COMMITMENTS),))] >= 1
    received = [
        value
        for (name, labels), value in figures.items()
        if name == "itb_received_messages_total" and ("handler", ERP_COMMITMENTS) in labels
    ]
    assert received and sum(received) >= 1, "FastStream's middleware counts what the consumers received"
    assert figures[("itb_outbox_events_waiting", ())] == 1
    assert figures[("itb_outbox_oldest_event_age_seconds", ())] >= 0
    assert figures[("itb_readiness_check_ok", (("check", "database"),))] == 1
    assert figures[("itb_readiness_check_ok", (("check", "outbox"),))] == 1
