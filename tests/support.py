"""Helpers for tests: a service over real HTTP, and reading and writing Kafka topics directly."""

import asyncio
import contextlib
import email
import email.policy
import mailbox
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.caught_mail import list_messages, read_message
from deploy.embedded import free_port
from shared.clock import Clock
from shared.envelope import CloudEvent
from shared.service import ServiceDefinition, consumed_routes, create_app
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[1]

# What the invite page shows once an answer is recorded.
ANSWER_SHOWN = {"yes": "Yes, I will bill this period", "no": "No, I will not bill this period"}


def service_settings(infrastructure, service: str, database_url: str, **overrides) -> Settings:
    """Settings for a service under test, using the session's broker and SMTP server and `database_url`."""
    defaults = dict(
        service_name=service,
        database_url=database_url,
        database_name=database_url.rsplit("/", 1)[1],
        kafka_bootstrap_servers=infrastructure.bootstrap_servers,
        smtp_host="127.0.0.1",
        smtp_port=infrastructure.smtp_port,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=500,
        secret_key="test-secret",
        http_port=free_port(),
        # A group of its own: each test's service reads the topics afresh and meets no stale members.
        kafka_group_prefix=f"{service}-{uuid.uuid4().hex[:8]}",
    )
    return Settings(**(defaults | overrides))


def linked_service_settings(infrastructure, databases: dict) -> dict[str, Settings]:
    """`service_settings` for each service of `databases` (by name), each knowing where the others' pages are;
    the notifier retries a deferred email after 0.3 s."""
    settings = {name: service_settings(infrastructure, name, database.url) for name, database in databases.items()}
    public = {f"{name}_public_url": f"http://127.0.0.1:{value.port}" for name, value in settings.items()}
    settings = {name: value.model_copy(update=public) for name, value in settings.items()}
    settings["notifier"] = settings["notifier"].model_copy(update={"smtp_retry_first_delay_seconds": 0.3})
    return settings


@dataclass
class RunningService:
    settings: Settings
    app: object
    base_url: str


@contextlib.asynccontextmanager
async def running_service(
    definition: ServiceDefinition, settings: Settings, *, read_history: bool = False
) -> AsyncIterator[RunningService]:
    """The service's real app served over real HTTP on a free port, in the test's event loop.

    Its consumer groups start at the topics' ends: the session's broker holds every earlier test's events, and a
    service reading them all again (sending their invites again, say) costs more with each test. A test that
    publishes before its service starts passes `read_history=True`."""
    if not read_history:
        await start_at_the_end(settings, consumed_routes(definition, Clock()))
    app = create_app(definition, settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield RunningService(settings, app, f"http://127.0.0.1:{settings.port}")
    finally:
        server.should_exit = True
        await task


async def start_at_the_end(settings: Settings, topics) -> None:
    """Commit each of the service's consumer groups at its topic's current end, as if it had read everything."""

    async def at_the_end(topic: str) -> None:
        group = f"{settings.kafka_group_prefix or settings.service_name}.{topic}"
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            await consumer.topics()  # the cluster's metadata, which names each topic's partitions
            partitions = [TopicPartition(topic, number) for number in consumer.partitions_for_topic(topic) or ()]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.commit({partition: ends[partition] for partition in partitions})
        finally:
            await consumer.stop()

    await asyncio.gather(*(at_the_end(topic) for topic in topics))


async def publish(bootstrap: str, topic: str, key: str, value: bytes, headers: dict[str, str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=key.encode(), headers=[(name, text.encode()) for name, text in headers.items()]
        )
    finally:
        await producer.stop()


async def publish_event(bootstrap: str, topic: str, key: str, event: CloudEvent) -> None:
    value, headers = event.to_structured()
    await publish(bootstrap, topic, key, value, headers)


@contextlib.asynccontextmanager
async def topic_reader(bootstrap: str, *topics: str) -> AsyncIterator["TopicReader"]:
    """Reads the topics from their beginning, without a consumer group, so it sees everything."""
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        yield TopicReader(consumer)
    finally:
        await consumer.stop()


class TopicReader:
    def __init__(self, consumer: AIOKafkaConsumer):
        self._consumer = consumer
        self.seen = []

    async def wait_for(self, matches, count: int = 1, within: float = 20.0) -> list:
        """Records until `count` of them satisfy `matches`; fails the test after `within` seconds."""
        async with asyncio.timeout(within):
            while len(found := [record for record in self.seen if matches(record)]) < count:
                batch = await self._consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    self.seen.extend(records)
        return found

    async def drain(self, seconds: float = 2.0) -> list:
        """Everything that arrives within `seconds` (to show that something did not happen)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.seen.extend(records)
        return self.seen


def csrf_of(page, action: str | None = None) -> str:
    """The CSRF token of the page's form that posts to `action` (or of its first form)."""
    form = page.text if action is None else page.text[page.text.index(f'action="{action}"') :]
    return re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)


def mail_to(maildir: Path, domain: str) -> list[EmailMessage]:
    """Messages the SMTP server received for addresses at `domain`, in order of arrival (each test's addresses
    have a domain of their own: other tests' mail is there too)."""
    return [
        read_message(maildir, stored.number)
        for stored in list_messages(maildir)
        if any(recipient.endswith("@" + domain) for recipient in stored.recipients)
    ]


async def wait_for_mail_to(maildir: Path, domain: str, count: int, within: float = 30) -> list[EmailMessage]:
    async with asyncio.timeout(within):
        while len(messages := mail_to(maildir, domain)) < count:
            await asyncio.sleep(0.1)
    return messages


def start_notifier(infrastructure, database_url: str, group: str, **settings: str) -> subprocess.Popen:
    """The notifier as a process of its own, to be killed; `settings` override the environment's (SMTP_PORT=...).
    Its leases are short, so that a notifier started after it takes its rows within seconds."""
    environment = {
        **os.environ,
        "SERVICE_NAME": "notifier",
        "DATABASE_URL": database_url,
        "DATABASE_NAME": database_url.rsplit("/", 1)[1],
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
        "KAFKA_GROUP_PREFIX": group,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(infrastructure.smtp_port),
        "SMTP_CONNECTIONS": "1",
        "SMTP_TIMEOUT_SECONDS": "5",
        "MAIL_LEASE_SECONDS": "6",
        "SECRET_KEY": "test-secret",
        "HTTP_PORT": str(free_port()),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.notifier"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def project_mail(maildir: Path, domain: str) -> list[EmailMessage]:
    """What the mail server kept for addresses at `domain`, in one pass over the Maildir (it holds hundreds of
    messages here, and every other test's too)."""
    if not maildir.is_dir():
        return []
    box = mailbox.Maildir(maildir, create=False)
    messages = (email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.keys())
    return [
        message
        for message in messages
        if any(to.strip().endswith("@" + domain) for to in str(message.get("X-Rcpt-To", "")).split(","))
    ]
