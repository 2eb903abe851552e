"""The one way to start a service: FastAPI for HTTP, FastStream for Kafka, the outbox relay, in one process.

A service describes itself as a `ServiceDefinition` (its HTTP routers and the topics it consumes);
`create_app` wires the resources into the app's lifespan and `run` serves it with uvicorn.
"""

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from shared.background import ListeningWorker
from shared.clock import Clock
from shared.db import create_pool
from shared.errors import ProblemForPerson
from shared.logs import configure_logging, correlation_id_var
from shared.messaging import Route, consume, create_broker, outbox_publisher
from shared.outbox import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)

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


@dataclass
class ServiceDefinition:
    name: str
    title: str
    routers: Sequence[APIRouter] = ()
    # topic -> event type -> route; given the service's clock
    subscriptions: Callable[[Clock], dict[str, dict[str, Route]]] = lambda clock: {}
    workers: Callable[[ServiceResources], list[ListeningWorker]] = lambda resources: []


def create_app(definition: ServiceDefinition, settings: Settings) -> FastAPI:
    broker = create_broker(settings)
    clock = Clock()
    pool: asyncpg.Pool | None = None

    def pool_of() -> asyncpg.Pool:
        assert pool is not None, "the service has not started"
        return pool

    for topic, routes in definition.subscriptions(clock).items():
        consume(broker, pool_of, settings, topic, routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal pool
        database_url = settings.service_database_url()
        pool = await create_pool(database_url, settings.database_pool_size)
        app.state.pool = pool
        workers = [
            OutboxRelay(database_url, outbox_publisher(broker)),
            *definition.workers(ServiceResources(settings, pool, clock)),
        ]
        app.state.workers = workers
        await start_broker(broker)
        for worker in workers:
            worker.start()
        log.info("service started", extra={"port": settings.port})
        try:
            yield
        finally:
            for worker in workers:
                await worker.stop()
            await broker.stop()
            await pool.close()

    app = FastAPI(
        title=definition.title,
        lifespan=lifespan,
        responses={422: {"model": InvalidRequestAnswer, "description": "The request is not valid"}},
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.broker = broker
    app.include_router(_health_router(broker))
    for router in definition.routers:
        app.include_router(router)

    @app.middleware("http")
    async def correlate(request: Request, call_next):
        """Events caused by this request carry its correlation id (the caller's, or a new one)."""
        offered = request.headers.get("x-correlation-id", "")
        correlation_id = offered if _CORRELATION_ID.fullmatch(offered) else str(uuid.uuid4())
        correlation_id_var.set(correlation_id)
        response = await call_next(request)
        response.headers["X-Correlation-ID"] = correlation_id
        return response

    @app.exception_handler(ProblemForPerson)
    async def explain_problem(request: Request, problem: ProblemForPerson) -> JSONResponse:
        return JSONResponse({"detail": str(problem)}, problem.status_code)

    @app.exception_handler(asyncpg.DataError)
    async def explain_unstorable_input(request: Request, error: asyncpg.DataError) -> JSONResponse:
        # Text PostgreSQL cannot hold (a NUL character, say) reached a query: the request's fault, not ours.
        log.warning("request refused: its data cannot be stored", extra={"error": str(error)})
        return JSONResponse(
            {"detail": "The request holds characters that cannot be stored (such as a NUL character)."}, 422
        )

    @app.exception_handler(RequestValidationError)
    async def explain_invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"][1:]), "message": problem["msg"]}
            for problem in error.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
        answer = InvalidRequestAnswer(detail=f"The request is not valid: {summary}.", problems=problems)
        return JSONResponse(answer.model_dump(), 422)

    return app


async def start_broker(broker: KafkaBroker) -> None:
    """What `broker.start()` does, but with the subscribers starting together rather than one after another:
    each waits for its consumer group's join (the broker may hold a join for seconds), so in turn they add up."""
    await broker.connect()
    await asyncio.gather(*(subscriber.start() for subscriber in broker.subscribers))
    for publisher in broker.publishers:
        await publisher.start()
    broker.running = True


def client_address(request: Request) -> str:
    """Where a request came from (uvicorn takes X-Forwarded-For from the proxies it trusts)."""
    return request.client.host if request.client else "unknown"


def _health_router(broker) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def alive() -> dict:
        return {"status": "alive"}

    @router.get("/readyz")
    async def ready(request: Request) -> JSONResponse:
        checks = {"database": "ok", "broker": "ok"}
        try:
            async with request.app.state.pool.acquire(timeout=2) as connection:
                await connection.fetchval("SELECT 1")
        except Exception:
            log.warning("readiness check: database unreachable", exc_info=True)
            checks["database"] = "unreachable"
        if not await broker.ping(timeout=2):
            checks["broker"] = "unreachable"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, 200 if ready else 503)

    return router


def run(definition: ServiceDefinition) -> None:
    settings = Settings(service_name=definition.name)
    configure_logging(definition.name, settings.log_level)
    uvicorn.run(
        create_app(definition, settings),
        host=settings.http_host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
