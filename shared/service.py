"""The one way to start a service: FastAPI for HTTP, FastStream for Kafka, the outbox relay, in one process.

A service describes itself as a `ServiceDefinition` (its HTTP routers and the topics it consumes);
`create_app` wires the resources into the app's lifespan and `run` serves it with uvicorn.
"""

import asyncio
import contextlib
import ctypes
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from faststream.kafka import KafkaBroker
from opentelemetry.trace import Span
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asyncapi import ASYNCAPI_PAGE, asyncapi_router
from shared.background import ListeningWorker
from shared.clock import Clock
from shared.contracts.topics import ACCOUNTS
from shared.db import create_pool
from shared.errors import ProblemForPerson
from shared.health import health_router
from shared.http_guards import BodyLimit, SecurityHeaders, refusal
from shared.logs import configure_logging, correlation_id_var, redacted_path
from shared.messaging import Route, consume, create_broker, is_transient, outbox_publisher
from shared.metrics import ServiceMetrics, service_metrics
from shared.outbox import OutboxRelay
from shared.pages import STATIC_FILES
from shared.retention import Retention
from shared.session_versions import session_version_routes
from shared.sessions import check_session_cookie
from shared.settings import Settings
from shared.tracing import configure_tracing, http_span

log = logging.getLogger(__name__)
access_log = logging.getLogger("access")
_PROBES = {"/healthz", "/readyz"}  # asked every few seconds by the orchestrator: only at DEBUG

_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class InvalidRequestAnswer(BaseModel):
    """How every service answers a request it cannot accept (422), and so what its OpenAPI says it answers: a
    sentence a person can read and, when FastAPI found them, the problem with each field."""

    detail: str
    problems: list[dict[str, str]] = []


@dataclass(frozen=True)
class ServiceResources:
    """What a service's background workers are built from, once the service has started."""

    settings: Settings
    pool: asyncpg.Pool
    clock: Clock
    metrics: ServiceMetrics


@dataclass
class ServiceDefinition:
    name: str
    title: str
    routers: Sequence[APIRouter] = ()
    # topic -> event type -> route; given the service's clock
    subscriptions: Callable[[Clock], dict[str, dict[str, Route]]] = lambda clock: {}
    workers: Callable[[ServiceResources], list[ListeningWorker]] = lambda resources: []


def consumed_routes(definition: ServiceDefinition, clock: Clock) -> dict[str, dict[str, Route]]:
    """What the service consumes: topic -> event type -> route."""
    subscriptions = definition.subscriptions(clock)
    # Every service keeps the accounts' session versions, to refuse sessions ended elsewhere (shared.sessions).
    subscriptions[ACCOUNTS] = subscriptions.get(ACCOUNTS, {}) | session_version_routes()[ACCOUNTS]
    return subscriptions


def create_app(definition: ServiceDefinition, settings: Settings) -> FastAPI:
    configure_tracing(settings.service_name)
    broker = create_broker(settings)
    metrics = service_metrics(broker)
    clock = Clock()
    pool: asyncpg.Pool | None = None

    def pool_of() -> asyncpg.Pool:
        assert pool is not None, "the service has not started"
        return pool

    for topic, routes in consumed_routes(definition, clock).items():
        consume(broker, pool_of, settings, topic, routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal pool
        database_url = settings.service_database_url()
        pool = await create_pool(database_url, settings.database_pool_size)
        app.state.pool = pool
        workers = [
            OutboxRelay(database_url, outbox_publisher(broker)),
            Retention(settings),
            *definition.workers(ServiceResources(settings, pool, clock, metrics)),
        ]
        app.state.workers = workers
        await start_broker(broker)
        for worker in workers:
            worker.start()
        log.info("service started", extra={"port": settings.port})
        try:
            yield
        finally:
            # The other workers together (each lets its work in hand finish), then the outbox relay: what they
            # record as they finish is published before it stops.
            relay, *others = workers
            await asyncio.gather(*(worker.stop() for worker in others))
            await relay.stop()
            await broker.stop()
            await pool.close()

    app = FastAPI(
        title=definition.title,
        lifespan=lifespan,
        # Each request has its span, figures and log line from RecordedRequests. FastAPI's own would be a second
        # span per request (and more for its dependencies), with the path, and so an emailed link's token, in it.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        dependencies=[Depends(check_session_cookie)],
        responses={422: {"model": InvalidRequestAnswer, "description": "The request is not valid"}},
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.metrics = metrics
    app.state.broker = broker
    # The service's own routes first: a request is matched against each route in turn, and its pages and API are
    # what people ask for (the probes and documents come a few times a minute).
    for router in definition.routers:
        app.include_router(router)
    app.include_router(health_router(broker))
    app.include_router(asyncapi_router(definition))

    # Outermost last: every response, the refusals of BodyLimit too, carries the security headers.
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(SecurityHeaders, settings=settings, api_docs_paths=_api_docs_paths(app))

    # Outermost of all: refusals are logged and counted too, and carry the correlation id.
    app.add_middleware(RecordedRequests, metrics=metrics)

    app.mount("/static", StaticFiles(directory=STATIC_FILES), name="static")

    @app.exception_handler(ProblemForPerson)
    async def explain_problem(request: Request, problem: ProblemForPerson) -> JSONResponse:
        return JSONResponse({"detail": str(problem)}, problem.status_code)

    @app.exception_handler(asyncpg.DataError)
    async def explain_unstorable_input(request: Request, error: asyncpg.DataError) -> Response:
        # Text PostgreSQL cannot hold (a NUL character, say) reached a query: the request's fault, not ours.
        log.warning("request refused: its data cannot be stored", extra={"error": str(error)})
        detail = (
            "The request holds characters that cannot be stored (such as a NUL character); remove them and try again."
        )
        return refusal(request, 422, "This cannot be stored", detail)

    @app.exception_handler(OSError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    @app.exception_handler(asyncpg.PostgresError)
    async def explain_unavailable(request: Request, error: Exception) -> Response:
        # The database away (restarting, failing over, out of connections): the request's transaction did not
        # commit, so asking again later is safe. Anything else is a fault of ours, a 500 with its traceback logged.
        if not is_transient(error):
            raise error
        log.warning("request refused: the database is unavailable", extra={"error": f"{type(error).__name__}: {error}"})
        detail = "The service cannot reach its database just now, so nothing was changed. Try again in a minute."
        response = refusal(request, 503, "Please try again in a minute", detail)
        response.headers["Retry-After"] = "30"
        return response

    @app.exception_handler(RequestValidationError)
    async def explain_invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"][1:]), "message": problem["msg"]}
            for problem in error.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
        answer = InvalidRequestAnswer(
            detail=f"The request is not valid: {summary}. Correct it and send it again.", problems=problems
        )
        return refusal(request, 422, "This request is not valid", answer.detail, problems=answer.problems)

    return app


async def start_broker(broker: KafkaBroker) -> None:
    """What `broker.start()` does, but with the subscribers starting together rather than one after another:
    each waits for its consumer group's join (the broker may hold a join for seconds), so in turn they add up."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


def _api_docs_paths(app: FastAPI) -> list[str]:
    return [path for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url, ASYNCAPI_PAGE) if path]


class RecordedRequests:
    """Each request under its correlation id (the caller's, or a new one), for the events it causes; in a span
    that continues the caller's trace; counted in the metrics; and logged as a JSON line, the tokens of emailed
    links left out.

    Plain ASGI rather than `@app.middleware("http")`, whose request and response wrappers and task per request
    cost more than the invite page's own work."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        offered = headers.get("x-correlation-id", "")
        correlation_id = offered if _CORRELATION_ID.fullmatch(offered) else str(uuid.uuid4())
        correlation_id_var.set(correlation_id)
        correlation_header = (b"x-correlation-id", correlation_id.encode())
        started, status = time.perf_counter(), 500

        async def send_correlated(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), correlation_header]
            await send(message)

        with http_span(scope["method"], headers) as span:
            try:
                await self.app(scope, receive, send_correlated)
            finally:
                self._record(scope, status, time.perf_counter() - started, span)

    def _record(self, scope: Scope, status: int, took: float, span: Span) -> None:
        """A request answered: its span named, its figures counted, its line in the access log."""
        method, path = scope["method"], scope["path"]
        # The route's template (/claims/{claim_id}), not the path: ids would make a series each.
        route = getattr(scope.get("route"), "path", None) or ("/static" if path.startswith("/static/") else "unmatched")
        span.update_name(f"{method} {route}")
        span.set_attributes({"http.route": route, "http.response.status_code": status})
        self.metrics.http_request_answered(method, route, status, took)
        access_log.log(
            logging.DEBUG if path in _PROBES else logging.INFO,
            "request",
            extra={
                "method": method,
                "path": redacted_path(path),
                "status": status,
                "duration_ms": round(took * 1000, 1),
                "client": scope["client"][0] if scope.get("client") else "unknown",
            },
        )


def client_address(request: Request) -> str:
    """Where a request came from (uvicorn takes X-Forwarded-For from the proxies it trusts)."""
    return request.client.host if request.client else "unknown"


# glibc's mallopt(M_MMAP_THRESHOLD, bytes): allocations from that size on get pages of their own.
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_blocks_when_freed() -> None:
    """Keep glibc's threshold for giving a large allocation pages of its own at 128 KiB. Left alone, it rises to
    the size of each larger block freed (Kafka's fetch responses, a megabyte or more), so later ones are carved
    from the heap, whose free space stays resident: 21 MB of the notifier's after the 100,000-contact ingest
    (bench/profiling/memory.md). Without glibc (musl, macOS) there is nothing to set."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)


def run(definition: ServiceDefinition) -> None:
    settings = Settings(service_name=definition.name)
    configure_logging(definition.name, settings.log_level)
    return_large_blocks_when_freed()
    uvicorn.run(
        create_app(definition, settings),
        host=settings.http_host,
        port=settings.port,
        log_config=None,
        access_log=False,  # RecordedRequests logs each request, its token left out
        timeout_graceful_shutdown=5,
    )
