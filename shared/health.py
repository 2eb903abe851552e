"""Liveness and readiness of a service: `/healthz` says the process answers; `/readyz` whether it does its job;
`/metrics` the figures (shared/metrics.py), the readiness checks among them.

Ready means the database and the broker answer, the outbox relay is not failing to publish for longer than
OUTBOX_FAILING_LIMIT_SECONDS, no event the relay could publish has waited longer than
OUTBOX_WAITING_LIMIT_SECONDS (a relay stopped or falling behind, whatever the cause), and no consumer has been
retrying one message for longer than CONSUMER_RETRYING_LIMIT_SECONDS (it would hold its partition). The page
also reports the events the broker refused for good, which do not make the service unready: later events flow
past them (shared/outbox.py).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared import outbox
from shared.messaging import retrying_messages
from shared.metrics import service_metrics
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    checks: dict[str, str]  # check -> "ok" or what is wrong
    reasons: list[str]  # a sentence per failing check
    report: dict  # figures worth showing either way

    @property
    def ready(self) -> bool:
        return not self.reasons


async def readiness(request: Request, broker: KafkaBroker) -> Readiness:
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    result = Readiness({"database": "ok", "broker": "ok", "outbox": "ok", "consumers": "ok"}, [], {})
    checks, reasons, report = result.checks, result.reasons, result.report
    oldest = None
    try:
        async with request.app.state.pool.acquire(timeout=2) as connection:
            report["failed_events"] = await outbox.failed_count(connection)
            report["waiting_events"] = await outbox.waiting_count(connection)
            oldest = await outbox.oldest_waiting_since(connection)
    except Exception:
        log.warning("readiness check: database unreachable", exc_info=True)
        checks["database"] = "unreachable"
        reasons.append("The database does not answer.")
    if not await broker.ping(timeout=2):
        checks["broker"] = "unreachable"
        reasons.append("The Kafka broker does not answer.")

    relay = _relay(request)
    if relay is not None:
        failing_for = relay.health.failing_for(now)
        if failing_for > timedelta(seconds=settings.outbox_failing_limit_seconds):
            checks["outbox"] = "failing"
            reasons.append(
                f"The outbox relay has failed to publish for {failing_for.total_seconds():.0f} s "
                f"({relay.health.last_error}); events wait in the outbox until Kafka takes them."
            )
        report["events_refused_since_start"] = relay.health.refused
    waited = now - oldest if oldest is not None else timedelta(0)
    report["oldest_event_waiting_seconds"] = round(waited.total_seconds(), 1)
    if waited > timedelta(seconds=settings.outbox_waiting_limit_seconds):
        checks["outbox"] = "behind" if checks["outbox"] == "ok" else checks["outbox"]
        reasons.append(
            f"An event has waited {waited.total_seconds():.0f} s in the outbox to be published (the limit is "
            f"{settings.outbox_waiting_limit_seconds:.0f} s); `itb outbox` shows the backlog."
        )

    stuck = retrying_messages(broker).longer_than(timedelta(seconds=settings.consumer_retrying_limit_seconds), now)
    if stuck:
        checks["consumers"] = "stuck"
        report["stuck_consumers"] = [
            {
                "consumer": message.consumer,
                "event_id": message.event_id,
                "retrying_since": message.since.isoformat(),
                "failures": message.failures,
                "error": message.error,
            }
            for message in stuck
        ]
        reasons.extend(
            f"The consumer {message.consumer} has been retrying event {message.event_id} since "
            f"{message.since.isoformat(timespec='seconds')} ({message.error})."
            for message in stuck
        )
    return result


def health_router(broker: KafkaBroker) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def alive() -> dict:
        return {"status": "alive"}

    @router.get("/readyz")
    async def ready(request: Request) -> JSONResponse:
        result = await readiness(request, broker)
        body = {"status": "ready" if result.ready else "not ready", **result.checks, **result.report}
        if result.reasons:
            body["reasons"] = result.reasons
        return JSONResponse(body, 200 if result.ready else 503)

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics; the outbox's figures and the readiness checks are taken as they are asked for."""
        result = await readiness(request, broker)
        figures = service_metrics(broker)
        for check, state in result.checks.items():
            figures.readiness.labels(check).set(1 if state == "ok" else 0)
        figures.outbox_waiting.set(result.report.get("waiting_events", 0))
        figures.outbox_failed.set(result.report.get("failed_events", 0))
        figures.outbox_oldest_age.set(result.report["oldest_event_waiting_seconds"])
        return Response(generate_latest(figures.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _relay(request: Request) -> outbox.OutboxRelay | None:
    workers = getattr(request.app.state, "workers", [])
    return next((worker for worker in workers if isinstance(worker, outbox.OutboxRelay)), None)
