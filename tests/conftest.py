"""The test session's real parts: a Kafka-protocol broker, PostgreSQL and an SMTP server, started once.

By default they are the embedded ones `itb up` uses, on free ports, so tests run beside a running stack.
With ITB_TEST_CONTAINERS=1 (where a Docker engine runs) Kafka and PostgreSQL come from testcontainers.
"""

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from deploy.embedded import (
    data_outside_state,
    free_port,
    postgres_data_dir,
    postgres_url,
    start_broker,
    start_mail_catcher,
    start_postgres,
)
from shared.contracts.topics import SERVICES
from shared.db import create_pool, migrate, migrations_dirs
from shared.messaging import create_topics
from shared.settings import Settings


@dataclass(frozen=True)
class Infrastructure:
    bootstrap_servers: str
    postgres_url: str  # the server; each test gets databases of its own on it
    smtp_port: int
    maildir: Path  # where the SMTP server keeps what it receives


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first, each followed by an ordinary one: `make test` hands each process two tests to begin
    with (`--maxschedchunk 2`), so every process starts on a slow test, and none is left with one at the end while
    the others wait."""
    slow = [item for item in items if item.get_closest_marker("slow")]
    ordinary = [item for item in items if not item.get_closest_marker("slow")]
    paired = [test for pair in zip(slow, ordinary, strict=False) for test in pair]
    items[:] = paired + slow[len(paired) // 2 :] + ordinary[len(paired) // 2 :]


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    state = Path(tempfile.mkdtemp(prefix="itb-tests-"))
    state.chmod(0o755)  # PostgreSQL runs as 'nobody' when the tests run as root
    with contextlib.ExitStack() as started:
        started.callback(shutil.rmtree, state, ignore_errors=True)  # last, once everything has stopped
        if os.environ.get("ITB_TEST_CONTAINERS") == "1":
            bootstrap, database_server = started.enter_context(_containers())
        else:
            kafka_port, postgres_port = free_port(), free_port()
            started.callback(start_broker(kafka_port, state / "kafka.log").stop)
            started.callback(shutil.rmtree, data_outside_state(state), ignore_errors=True)  # if 'nobody' needs it
            postgres = start_postgres(postgres_data_dir(state), postgres_port, state / "postgres.log", durable=False)
            started.callback(postgres.stop)
            bootstrap, database_server = f"127.0.0.1:{kafka_port}", postgres_url(postgres_port)
        smtp_port = free_port()
        mail = start_mail_catcher(state / "mail", smtp_port, free_port(), state / "mail.log")
        started.callback(mail.stop)
        asyncio.run(create_topics(bootstrap))
        yield Infrastructure(bootstrap, database_server, smtp_port, state / "mail")


@contextlib.contextmanager
def _containers() -> Iterator[tuple[str, str]]:
    """Kafka and PostgreSQL in containers, for machines with a Docker engine."""
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with KafkaContainer("confluentinc/cp-kafka:7.6.0") as kafka, PostgresContainer("postgres:17") as postgres:
        url = postgres.get_connection_url(driver=None)
        yield kafka.get_bootstrap_server(), url


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


@pytest.fixture
def down_smtp_port() -> Iterator[int]:
    """A port where the mail server is down: connections are refused. It stays bound (not listening) for the
    test, so no other process of a parallel session can take it meanwhile; a mail server the test starts later
    may still listen there (SO_REUSEADDR)."""
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]
