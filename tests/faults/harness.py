"""A billing round of 2,000 contacts under a fault, and the proof that the design's promises held through it.

Everything is the test's own, so that it can be paused, restarted or stopped without disturbing the other tests
of the session: a broker, a PostgreSQL server and a mail catcher, and the four services as separate processes
(as `itb up` runs them). Contacts answer as a person does: they follow the link in the email they were sent
and post Yes or No on the invite page, pressing again when the page says to wait or does not answer.

A test reads as its fault: open the period, let contacts answer while the fault happens, then
`prove_promises()`: every contact got exactly one invite (a duplicate email carries the same Message-ID), every
answer had its effect exactly once, and nothing went to the dead letters.
"""

import asyncio
import contextlib
import email
import email.policy
import json
import logging
import mailbox
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.embedded import (
    ChildProcess,
    data_outside_state,
    free_port,
    postgres_data_dir,
    postgres_url,
    start_broker,
    start_mail_catcher,
    start_postgres,
)
from services.claims.app import definition as claims
from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from services.responses.app import definition as responses
from shared.clock import Clock
from shared.contracts.claims import ProgressClaimCreated
from shared.contracts.invites import InviteSent
from shared.contracts.responses import InviteAccepted, InviteDeclined
from shared.contracts.topics import (
    BILLING_CLAIMS,
    BILLING_INVITES,
    BILLING_RESPONSES,
    ERP_COMMITMENTS,
    ERP_DIRECTORY,
    SERVICES,
    dead_letter_topic,
)
from shared.db import migrate, migrations_dirs
from shared.messaging import create_topics
from shared.sessions import issue_session_token
from shared.settings import Settings
from tests.factories import commitment, erp_event, member
from tests.support import ANSWER_SHOWN, csrf_of

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "fault-test-secret"
DEFINITIONS = {"periods": periods, "notifier": notifier, "responses": responses, "claims": claims}

# 2,000 contacts: 100 commitments of 20. Two contacts of each commitment answer (a member of the project with
# Read Only), so that some commitments get two Yes answers and must still get one claim.
COMMITMENTS = 100
CONTACTS_PER_COMMITMENT = 20
CONTACTS = COMMITMENTS * CONTACTS_PER_COMMITMENT
# Answers are given by a few contacts at once, as people do.
CONTACTS_ANSWERING_AT_ONCE = 8
# What the invite page says once the contact's answer is recorded.


# --- The test's own infrastructure ---


class OwnInfrastructure:
    """A broker, PostgreSQL and mail catcher for one test, each a child process the test may interrupt."""

    def __init__(self, state: Path):
        self.state = state
        self.logs = state / "logs"
        self.maildir = state / "mail"
        self.kafka_port, self.postgres_port = free_port(), free_port()
        self.smtp_port, self.mail_ui_port = free_port(), free_port()
        self.broker = self.postgres = self.mail = None

    def start(self) -> None:
        try:
            self.broker = start_broker(self.kafka_port, self.logs / "kafka.log")
            self.postgres = self._start_postgres()
            self.mail = self._start_mail_catcher()
        except BaseException:
            self.stop()
            raise

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def postgres_url(self) -> str:
        return postgres_url(self.postgres_port)

    def _start_postgres(self) -> ChildProcess:
        return start_postgres(
            postgres_data_dir(self.state), self.postgres_port, self.logs / "postgres.log", durable=False
        )

    def _start_mail_catcher(self) -> ChildProcess:
        return start_mail_catcher(self.maildir, self.smtp_port, self.mail_ui_port, self.logs / "mail.log")

    async def pause_broker(self, seconds: float) -> None:
        """SIGSTOP: the broker answers nothing, and no connection to it breaks, until SIGCONT."""
        self.broker.process.send_signal(signal.SIGSTOP)
        try:
            await asyncio.sleep(seconds)  # the fault's own length
        finally:
            self.broker.process.send_signal(signal.SIGCONT)

    async def restart_postgres(self) -> None:
        """A fast shutdown (open transactions rolled back, connections cut), then the server again."""
        await asyncio.to_thread(self.postgres.stop)
        self.postgres = await asyncio.to_thread(self._start_postgres)

    async def refuse_mail(self, seconds: float) -> None:
        """The mail catcher stopped: connections to its port are refused for `seconds`. The port stays bound
        meanwhile (not listening), so that no other process takes it."""
        await asyncio.to_thread(self.mail.stop)
        with socket.socket() as held:
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            held.bind(("127.0.0.1", self.smtp_port))
            await asyncio.sleep(seconds)  # the fault's own length
        self.mail = await asyncio.to_thread(self._start_mail_catcher)

    def stop(self) -> None:
        if self.broker is not None and self.broker.running():
            self.broker.process.send_signal(signal.SIGCONT)  # a paused broker would not hear the signal to stop
        for part in (self.mail, self.postgres, self.broker):
            if part is not None:
                part.stop()


# --- The services, as processes ---


class ServiceProcess:
    """One service run as `itb up` runs it, which the test may kill and start again."""

    def __init__(self, name: str, environment: dict[str, str], log_path: Path):
        self.name = name
        self.port = int(environment["HTTP_PORT"])
        self._environment = environment
        self._log_path = log_path
        self.child: ChildProcess | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.child = ChildProcess(
            self.name, [sys.executable, "-m", f"services.{self.name}"], self._log_path, env=self._environment, cwd=REPO
        )

    def kill(self) -> None:
        """SIGKILL: no chance to finish what it was doing."""
        self.child.process.send_signal(signal.SIGKILL)
        self.child.process.wait()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=20)

    async def ready(self, within: float = 90) -> None:
        """Until its /readyz says ready: its database and broker reached, its consumers joined."""
        async with asyncio.timeout(within), httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while True:
                if not self.child.running():
                    raise RuntimeError(f"The {self.name} service stopped. Its last output:\n{self.child.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)

    def consumer_groups(self) -> dict[str, str]:
        """topic -> the service's consumer group reading it."""
        prefix = self._environment["KAFKA_GROUP_PREFIX"]
        return {topic: f"{prefix}.{topic}" for topic in DEFINITIONS[self.name].subscriptions(Clock())}


# --- Who answers and how ---


@dataclass(frozen=True)
class Contact:
    user_id: str
    name: str
    email: str
    commitment_id: str
    answer: str | None  # what the contact answers, or None for one who does not

    def as_invoice_contact(self) -> dict:
        return {"user_id": self.user_id, "name": self.name, "email": self.email}


def answer_of(commitment_number: int, contact_number: int) -> str | None:
    """The first two contacts of each commitment answer: the first Yes on every second commitment, the second
    Yes on every third, No otherwise; so every sixth commitment gets two Yes answers (and one claim)."""
    if contact_number == 0:
        return "yes" if commitment_number % 2 == 0 else "no"
    if contact_number == 1:
        return "yes" if commitment_number % 3 == 0 else "no"
    return None


@dataclass(frozen=True)
class CaughtMessage:
    recipient: str
    message_id: str
    raw: bytes

    def answer_link(self, answer: str) -> str:
        """The link the email gives for the answer (its plain-text part says `Yes: <link>`)."""
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        prefix = f"{answer.title()}: "
        lines = message.get_body(("plain",)).get_content().splitlines()
        return next(line for line in lines if line.startswith(prefix)).removeprefix(prefix).strip()


class CaughtMail:
    """The mail catcher's Maildir, each message's headers read once (a round catches thousands), looked at no
    more often than a person would."""

    LOOK_EVERY_SECONDS = 0.2

    def __init__(self, maildir: Path):
        self._maildir = maildir
        self._read: set[str] = set()
        self._by_recipient: dict[str, list[CaughtMessage]] = defaultdict(list)
        self._looked_at = 0.0

    def _refresh(self) -> None:
        if time.monotonic() - self._looked_at < self.LOOK_EVERY_SECONDS or not self._maildir.is_dir():
            return
        self._looked_at = time.monotonic()
        box = mailbox.Maildir(self._maildir, create=False)
        for key in set(box.keys()) - self._read:
            raw = box.get_bytes(key)
            headers = BytesHeaderParser().parsebytes(raw)
            recipient = parseaddr(headers["To"])[1]
            self._by_recipient[recipient].append(CaughtMessage(recipient, headers["Message-ID"], raw))
            self._read.add(key)

    def count(self) -> int:
        self._refresh()
        return len(self._read)

    def to(self, address: str) -> list[CaughtMessage]:
        self._refresh()
        return self._by_recipient.get(address, [])

    def recipients(self) -> dict[str, list[CaughtMessage]]:
        self._refresh()
        return dict(self._by_recipient)


# --- The round ---


@dataclass
class FaultRound:
    infrastructure: OwnInfrastructure
    services: dict[str, ServiceProcess]
    project: str = field(default_factory=lambda: f"P-{uuid.uuid4().hex[:8]}")
    contacts: list[Contact] = field(default_factory=list)
    period_id: str | None = None
    answers_given: int = 0
    retries: Counter = field(default_factory=Counter)  # why contacts had to press again
    _answering: asyncio.Future | None = None

    def __post_init__(self):
        self.mail = CaughtMail(self.infrastructure.maildir)
        self.contacts = [
            Contact(
                user_id=f"{self.project}-{c}-{n}",
                name=f"Contact {c}-{n}",
                email=f"contact{c}-{n}@{self.domain}",
                commitment_id=f"{self.project}-SC-{c}",
                answer=answer_of(c, n),
            )
            for c in range(COMMITMENTS)
            for n in range(CONTACTS_PER_COMMITMENT)
        ]

    @property
    def periods(self) -> ServiceProcess:
        return self.services["periods"]

    @property
    def notifier(self) -> ServiceProcess:
        return self.services["notifier"]

    @property
    def responses(self) -> ServiceProcess:
        return self.services["responses"]

    @property
    def claims(self) -> ServiceProcess:
        return self.services["claims"]

    @property
    def domain(self) -> str:
        return f"{self.project.lower()}.example"

    @property
    def bootstrap(self) -> str:
        return self.infrastructure.bootstrap_servers

    @property
    def answering(self) -> list[Contact]:
        return [contact for contact in self.contacts if contact.answer is not None]

    @property
    def admin(self):
        return member(
            f"{self.project}-admin",
            project_id=self.project,
            permission="admin",
            name="Alex Admin",
            email=self.admin_email,
        )

    @property
    def admin_email(self) -> str:
        return f"alex@{self.domain}"

    def admin_headers(self) -> dict[str, str]:
        token = issue_session_token(Settings(secret_key=SECRET_KEY), self.admin.user_id, self.admin_email)
        return {"Authorization": f"Bearer {token}"}

    async def fetchval(self, service: str, query: str, *arguments):
        """One value from a service's database (a connection each time: PostgreSQL may have restarted)."""
        settings = Settings(database_url=self.infrastructure.postgres_url)
        connection = await asyncpg.connect(settings.service_database_url(service))
        try:
            return await connection.fetchval(query, *arguments)
        finally:
            await connection.close()

    @contextlib.asynccontextmanager
    async def _within(self, seconds: float, what: str) -> AsyncIterator[None]:
        """A wait that fails saying how far the round got, and what the services warned of."""
        try:
            async with asyncio.timeout(seconds):
                yield
        except TimeoutError:
            raise AssertionError(f"No {what} within {seconds:.0f} s. {self.progress()}") from None

    def progress(self) -> str:
        warnings = "\n".join(
            line
            for service in self.services.values()
            for line in service.child.log_tail(200).splitlines()
            if '"level": "info"' not in line
        )
        return (
            f"{self.mail.count()} of {CONTACTS} invites caught; {self.answers_given} of {len(self.answering)} answers "
            f"recorded; contacts pressed again: {dict(self.retries) or 'never'}. What the services warned of last:\n"
            f"{warnings[-3000:]}"
        )

    # --- Before the fault: the ERP's records, then the period ---

    async def publish_erp_records(self) -> None:
        """The project's administrator, its commitments, and the answering contacts as members with Read Only."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            await _send(producer, ERP_DIRECTORY, self.admin.user_id, erp_event(self.admin))
            for c in range(COMMITMENTS):
                commitment_id = f"{self.project}-SC-{c}"
                of_it = [contact for contact in self.contacts if contact.commitment_id == commitment_id]
                record = commitment(
                    commitment_id,
                    project_id=self.project,
                    number=f"SC-{c}",
                    invoice_contacts=[contact.as_invoice_contact() for contact in of_it],
                )
                await _send(producer, ERP_COMMITMENTS, commitment_id, erp_event(record))
            for contact in self.answering:
                record = member(contact.user_id, project_id=self.project, name=contact.name, email=contact.email)
                await _send(producer, ERP_DIRECTORY, record.user_id, erp_event(record))
            await producer.flush()
        finally:
            await producer.stop()

    async def wait_until_known(self, within: float = 60) -> None:
        """Until the ERP's records have reached every service that acts on them."""
        async with self._within(within, "the ERP's records reaching every service"):
            for service in ("notifier", "responses", "claims"):
                while (
                    await self.fetchval(
                        service, "SELECT count(*) FROM erp_commitments WHERE project_id = $1", self.project
                    )
                    < COMMITMENTS
                    or await self.fetchval(
                        service, "SELECT count(*) FROM erp_project_members WHERE project_id = $1", self.project
                    )
                    < len(self.answering) + 1
                ):
                    await asyncio.sleep(0.2)
            async with httpx.AsyncClient(base_url=self.periods.base_url, headers=self.admin_headers()) as client:
                while (await client.get(f"/api/projects/{self.project}/billing-periods")).status_code != 200:
                    await asyncio.sleep(0.2)

    async def open_period(self) -> None:
        """This month's period, due in ten days: its opening invites every contact."""
        today = datetime.now(UTC).date()
        dates = {
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=30)).isoformat(),
            "due_date": (today + timedelta(days=10)).isoformat(),
        }
        async with httpx.AsyncClient(base_url=self.periods.base_url, headers=self.admin_headers()) as client:
            response = await client.post(f"/api/projects/{self.project}/billing-periods", json=dates)
        assert response.status_code == 201, response.text
        self.period_id = response.json()["id"]

    # --- During the fault ---

    async def mail_caught(self, at_least: int, within: float = 180) -> None:
        """Until the mail server has caught `at_least` invites: the round is mid-send."""
        async with self._within(within, f"{at_least} invites caught"):
            while self.mail.count() < at_least:
                self._answering_went_wrong()
                await asyncio.sleep(0.1)

    async def answers_reached(self, at_least: int, within: float = 180) -> None:
        """Until `at_least` contacts have had their answer recorded: the answers are mid-stream."""
        async with self._within(within, f"{at_least} answers recorded"):
            while self.answers_given < at_least:
                self._answering_went_wrong()
                await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def contacts_answering(self, within: float = 300) -> AsyncIterator[None]:
        """The answering contacts answer while the block runs (each once their email has come), and the block's
        end waits until every one of them has been answered."""
        waiting: asyncio.Queue[Contact] = asyncio.Queue()
        for contact in self.answering:
            waiting.put_nowait(contact)

        async def answer_in_turn() -> None:
            async with httpx.AsyncClient(timeout=10) as browser:
                while not waiting.empty():
                    await self._answer(browser, waiting.get_nowait())
                    self.answers_given += 1

        answering = self._answering = asyncio.gather(*(answer_in_turn() for _ in range(CONTACTS_ANSWERING_AT_ONCE)))
        try:
            yield
            async with self._within(within, "every answer recorded"):
                await answering
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering

    def _answering_went_wrong(self) -> None:
        """A contact's answer refused for a reason no second press can change fails the test at once."""
        if self._answering is not None and self._answering.done():
            self._answering.result()

    async def _answer(self, browser: httpx.AsyncClient, contact: Contact) -> None:
        """Open the emailed link and post the answer, pressing again when the page asks to wait or no page comes."""
        while not (messages := self.mail.to(contact.email)):
            await asyncio.sleep(0.1)
        link = messages[0].answer_link(contact.answer)
        action = link.split("?")[0]
        while True:
            try:
                page = await browser.get(link)
                if page.status_code == 200 and ANSWER_SHOWN[contact.answer] in page.text:
                    return  # recorded by an earlier press whose reply was lost (the service was killed, say)
                if page.status_code == 200:
                    answered = await browser.post(
                        action, data={"answer": contact.answer, "csrf_token": csrf_of(page, action=_path(action))}
                    )
                    if answered.status_code == 303:
                        return
                    page = answered
                assert page.status_code in (202, 409) or page.status_code >= 500, (
                    f"{contact.email} could not answer {contact.answer}: {page.status_code} {page.text[:500]}"
                )
                self.retries[f"page answered {page.status_code}"] += 1
            except httpx.TransportError as error:
                self.retries[type(error).__name__] += 1
            await asyncio.sleep(0.5)  # the contact presses again (the waiting page refreshes itself)

    # --- After the fault: the proof ---

    async def prove_promises(self, within: float = 240) -> None:
        """Wait until every effect has come and the system is quiet, then check each promise."""
        async with self._within(within, "every invite sent and the system quiet"):
            await self._every_invite_sent()
            await self._quiet()
        await self._prove_one_invite_per_contact()
        await self._prove_every_answer_took_effect_once()
        await self._prove_no_dead_letters()
        log.info("fault round done", extra={"retries": dict(self.retries)})

    async def _every_invite_sent(self) -> None:
        while len(self.mail.recipients()) < CONTACTS or await self.fetchval(
            "notifier", "SELECT count(*) FROM deliveries WHERE status = 'pending'"
        ):
            await asyncio.sleep(0.2)

    async def _quiet(self) -> None:
        """Until every outbox is published and every consumer group has read to the end of its topics."""
        while True:
            unpublished = [
                await self.fetchval(service, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
                for service in SERVICES
            ]
            if not any(unpublished) and not await self._lagging_groups():
                return
            await asyncio.sleep(0.2)

    async def _lagging_groups(self) -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        ends = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await admin.start()
        await ends.start()
        await ends.topics()  # the topics' partitions
        try:
            lagging = []
            for service in self.services.values():
                for topic, group in service.consumer_groups().items():
                    partitions = [TopicPartition(topic, p) for p in ends.partitions_for_topic(topic) or ()]
                    committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
                    for partition, end in (await ends.end_offsets(partitions)).items():
                        at = committed.get(partition)
                        # The embedded broker may report an end below the committed offset: read to the end is >=.
                        if end > 0 and (at is None or at.offset < end):
                            lagging.append(group)
            return lagging
        finally:
            await ends.stop()
            await admin.close()

    async def _prove_one_invite_per_contact(self) -> None:
        mail = self.mail.recipients()
        assert sorted(mail) == sorted(contact.email for contact in self.contacts)
        twice = {address: messages for address, messages in mail.items() if len(messages) > 1}
        different = {
            address: [message.message_id for message in messages]
            for address, messages in twice.items()
            if len({message.message_id for message in messages}) > 1
        }
        assert not different, f"contacts sent different invites: {different}"
        sent = await self.events(BILLING_INVITES, InviteSent.TYPE)
        by_contact = Counter(event["data"]["contact"]["email"] for event in sent)
        assert set(by_contact) == {contact.email for contact in self.contacts}
        assert [address for address, times in by_contact.items() if times > 1] == [], "InviteSent more than once"
        log.info("invites", extra={"emails sent twice (same Message-ID)": len(twice)})

    async def _prove_every_answer_took_effect_once(self) -> None:
        for answered, answer in ((InviteAccepted, "yes"), (InviteDeclined, "no")):
            events = Counter(
                event["data"]["contact"]["user_id"] for event in await self.events(BILLING_RESPONSES, answered.TYPE)
            )
            assert events == Counter(c.user_id for c in self.answering if c.answer == answer), answered.__name__
        wanted = Counter({c.commitment_id for c in self.answering if c.answer == "yes"})
        created = Counter(
            event["data"]["commitment_id"] for event in await self.events(BILLING_CLAIMS, ProgressClaimCreated.TYPE)
        )
        assert created == wanted, "one ProgressClaimCreated per commitment answered Yes"
        async with httpx.AsyncClient(base_url=self.claims.base_url, headers=self.admin_headers()) as client:
            response = await client.get(f"/api/billing-periods/{self.period_id}/claims")
        assert response.status_code == 200, response.text
        listed = Counter(claim["commitment_id"] for claim in response.json())
        assert listed == wanted, "the claims API lists one draft claim per commitment answered Yes"
        assert {claim["status"] for claim in response.json()} == {"draft"}

    async def _prove_no_dead_letters(self) -> None:
        dead = await self.events(*(dead_letter_topic(service) for service in SERVICES), any_type=True)
        why = [(e["headers"].get("dlq-consumer"), e.get("type"), e["headers"].get("dlq-error")) for e in dead]
        assert dead == [], f"{len(dead)} messages went to the dead letters: {why}. {self.progress()}"

    async def events(self, *topics: str, event_type: str | None = None, any_type: bool = False) -> list[dict]:
        """Each distinct event (by its CloudEvents id) on the topics, read to their ends: the relay may publish
        an event twice after a crash, which consumers' inboxes absorb, so only a second id is a second effect."""
        if not any_type and event_type is None:
            *topics, event_type = topics
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await reader.start()
        try:
            await reader.topics()  # the topics' partitions
            partitions = [
                TopicPartition(topic, p) for topic in topics for p in reader.partitions_for_topic(topic) or ()
            ]
            reader.assign(partitions)
            ends = await reader.end_offsets(partitions)
            distinct: dict[str, dict] = {}
            async with asyncio.timeout(60):
                while [partition for partition, end in ends.items() if await reader.position(partition) < end]:
                    for records in (await reader.getmany(timeout_ms=200)).values():
                        for record in records:
                            event = _event_of(record) | {"headers": _headers_of(record)}
                            if any_type or event.get("type") == event_type:
                                distinct.setdefault(event.get("id", f"{record.topic}@{record.offset}"), event)
            return list(distinct.values())
        finally:
            await reader.stop()


def _event_of(record) -> dict:
    try:
        return json.loads(record.value)
    except ValueError:
        return {"undecodable": repr(record.value[:200])}


def _headers_of(record) -> dict[str, str]:
    return {name: (value or b"").decode(errors="replace") for name, value in record.headers}


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def _send(producer: AIOKafkaProducer, topic: str, key: str, event) -> None:
    value, headers = event.to_structured()
    await producer.send(
        topic, value, key=key.encode(), headers=[(name, text.encode()) for name, text in headers.items()]
    )


def _service_environment(infrastructure: OwnInfrastructure, ports: dict[str, int]) -> dict:
    environment = {
        **os.environ,
        "DATABASE_URL": infrastructure.postgres_url,
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(infrastructure.smtp_port),
        # Sends that failed while the mail server was away are tried again soon after it is back.
        "SMTP_RETRY_FIRST_DELAY_SECONDS": "0.5",
        "SECRET_KEY": SECRET_KEY,
        # A line for each of thousands of events costs the round time; a failed wait shows the warnings.
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("DATABASE_NAME", None)
    for service, port in ports.items():
        environment[f"{service.upper()}_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    return environment


def _state_folder() -> Path:
    state = Path(tempfile.mkdtemp(prefix="itb-faults-"))
    state.chmod(0o755)  # PostgreSQL runs as 'nobody' when the tests run as root
    return state


@contextlib.asynccontextmanager
async def fault_round() -> AsyncIterator[FaultRound]:
    """The round's own infrastructure and services started, the ERP's records known everywhere; everything
    stopped at the end, whatever happened."""
    state = await asyncio.to_thread(_state_folder)
    started = contextlib.ExitStack()
    started.callback(shutil.rmtree, state, ignore_errors=True)
    started.callback(shutil.rmtree, data_outside_state(state), ignore_errors=True)
    with started:
        infrastructure = OwnInfrastructure(state)
        await asyncio.to_thread(infrastructure.start)
        started.callback(infrastructure.stop)
        await create_topics(infrastructure.bootstrap_servers)
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    migrate,
                    Settings(database_url=infrastructure.postgres_url).service_database_url(service),
                    migrations_dirs(service),
                )
                for service in SERVICES
            )
        )
        ports = {service: free_port() for service in SERVICES}
        environment = _service_environment(infrastructure, ports)
        services = {
            service: ServiceProcess(
                service,
                {
                    **environment,
                    "SERVICE_NAME": service,
                    "HTTP_PORT": str(ports[service]),
                    # Groups of the test's own, named like the stack's: one per service and topic.
                    "KAFKA_GROUP_PREFIX": f"{service}-{uuid.uuid4().hex[:8]}",
                },
                infrastructure.logs / f"{service}.log",
            )
            for service in SERVICES
        }
        for service in services.values():
            service.start()
            started.callback(service.stop)
        await asyncio.gather(*(service.ready() for service in services.values()))
        round_ = FaultRound(infrastructure, services)
        await round_.publish_erp_records()
        await round_.wait_until_known()
        yield round_
