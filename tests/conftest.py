"""The test session's real parts: a Kafka-protocol broker, PostgreSQL and an SMTP server, started once.

By default they are the embedded ones `itb up` uses, on free ports, so tests run beside a running stack.
With ITB_TEST_CONTAINERS=1 (where a Docker engine runs) Kafka and PostgreSQL come from testcontainers.
"""

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from deploy.embedded import free_port, postgres_url, start_broker, start_postgres
from shared.db import create_pool, migrate, migrations_dirs
from shared.events import SERVICES
from shared.messaging import create_topics
from shared.settings import Settings


@dataclass(frozen=True)
class Infrastructure:
    bootstrap_servers: str
    postgres_url: str  # the server; each test gets databases of its own on it


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    if os.environ.get("ITB_TEST_CONTAINERS") == "1":
        yield from _containers()
        return
    state = Path(tempfile.mkdtemp(prefix="itb-tests-"))
    state.chmod(0o755)  # PostgreSQL runs as 'nobody' when the tests run as root
    kafka_port, postgres_port = free_port(), free_port()
    broker = start_broker(kafka_port, state / "kafka.log")
    try:
        postgres = start_postgres(state / "postgres", postgres_port, state / "postgres.log", durable=False)
        try:
            bootstrap = f"127.0.0.1:{kafka_port}"
            asyncio.run(create_topics(bootstrap))
            yield Infrastructure(bootstrap, postgres_url(postgres_port))
        finally:
            postgres.stop()
    finally:
        broker.stop()


def _containers() -> Iterator[Infrastructure]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.0") as kafka, PostgresContainer("postgres:17") as postgres:
        bootstrap = kafka.get_bootstrap_server()
        asyncio.run(create_topics(bootstrap))
        url = postgres.get_connection_url(driver=None).replace("postgresql+psycopg2", "postgresql")
        yield Infrastructure(bootstrap, url)


@pytest.fixture(scope="session")
def database_templates(infrastructure: Infrastructure) -> dict[str, str]:
    """One migrated template database per service; each test copies the one it needs (fast)."""
    settings = Settings(database_url=infrastructure.postgres_url)
    templates = {}
    for service in SERVICES:
        template = f"template_{service}"
        migrate(settings.service_database_url(template), migrations_dirs(service))
        templates[service] = template
    return templates


@pytest.fixture
async def fresh_database(infrastructure, database_templates):
    """make(service) -> the URL of a new, migrated, empty database for that service."""
    admin = await asyncpg.connect(infrastructure.postgres_url)
    created = []

    async def make(service: str) -> str:
        name = f"test_{service}_{uuid.uuid4().hex[:10]}"
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{database_templates[service]}"')
        created.append(name)
        return Settings(database_url=infrastructure.postgres_url).service_database_url(name)

    yield make
    for name in created:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@dataclass(frozen=True)
class TestDatabase:
    url: str
    pool: asyncpg.Pool


@pytest.fixture
async def database_for(fresh_database):
    """make(service) -> a new migrated database for the service, with a pool on it."""
    databases = []

    async def make(service: str) -> TestDatabase:
        url = await fresh_database(service)
        databases.append(TestDatabase(url, await create_pool(url)))
        return databases[-1]

    yield make
    for database in databases:
        await database.pool.close()
