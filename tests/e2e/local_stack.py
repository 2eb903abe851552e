"""`itb up` as a person runs it, and a billing round through it: the ERP's events published on its broker,
a period opened on its API, answers given through the links in the mail it caught, effects read from its
databases. Each round has a project and an email domain of its own."""

import asyncio
import email
import mailbox
import re
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaProducer

from deploy.embedded import free_port, free_ports_in_a_row, postgres_url
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY, SERVICES, dead_letter_topic
from tests.factories import commitment, erp_event, member
from tests.support import ANSWER_SHOWN, csrf_of, topic_reader

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "Invite to Bill is running"
# Events of which one aggregate has at most one: a second would be a duplicate effect.
ONCE_PER_AGGREGATE = (
    "billing.invite.sent.v1",
    "billing.invite.accepted.v1",
    "billing.invite.declined.v1",
    "billing.claim.created.v1",
)


def stack_environment(environment: dict, state: Path, replicas: int = 1) -> dict:
    """Free ports for every part, `state` as the state folder, and no pointer at an existing server."""
    kept = {
        key: value
        for key, value in environment.items()
        if key not in {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SMTP_HOST", "SMTP_PORT"}
    }
    ports = {f"ITB_{part}_PORT": str(free_port()) for part in ("KAFKA", "POSTGRES", "SMTP", "MAIL_UI")}
    ports |= {f"ITB_{service.upper()}_PORT": str(free_ports_in_a_row(replicas)) for service in SERVICES}
    return {**kept, **ports, "ITB_STATE_DIR": str(state)}


class LocalStack:
    """One `itb up` process: its output read as it comes, its parts found among its children."""

    def __init__(self, environment: dict, *arguments: str):
        self.environment = environment
        self.printed: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deploy", "up", *arguments],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self.printed.append(line)

    @property
    def output(self) -> str:
        return "".join(self.printed)

    async def wait_for_line(self, text: str, count: int = 1, within: float = 120) -> None:
        async with asyncio.timeout(within):
            while sum(text in line for line in self.printed) < count:
                assert self.process.poll() is None, f"itb up ended before saying {text!r}:\n{self.output}"
                await asyncio.sleep(0.1)

    async def ready(self) -> "LocalStack":
        await self.wait_for_line(READY_LINE)
        return self

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(90)
        finally:
            self._reader.join(10)
            self.process.stdout.close()

    def service_processes(self, service: str) -> list[psutil.Process]:
        """The service's processes, first replica first."""
        found = []
        for child in self._parts(f"services.{service}"):
            try:
                found.append((int(child.environ()["HTTP_PORT"]), child))
            except psutil.Error:  # ended since it was listed
                continue
        return [child for _, child in sorted(found, key=lambda found: found[0])]

    def _parts(self, command: str) -> list[psutil.Process]:
        """The stack's children whose command line mentions `command`."""
        found = []
        for child in psutil.Process(self.process.pid).children():
            try:
                if any(command in word for word in child.cmdline()):
                    found.append(child)
            except psutil.Error:
                continue
        return found

    async def kill(self, part: str) -> None:
        """SIGKILL the part (a service's first process, or the broker), and wait until the stack has started it
        again and every service is ready."""
        restarts = sum(f"The {part} process started again" in line for line in self.printed)
        [first, *_] = self.service_processes(part) if part in SERVICES else self._parts("tansu")
        first.send_signal(signal.SIGKILL)
        await self.wait_for_line(f"The {part} process started again", count=restarts + 1)
        for service in SERVICES:
            await self.until_ready(self.port(service))

    async def until_ready(self, port: int) -> None:
        async with httpx.AsyncClient() as client, asyncio.timeout(90):
            while True:
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)

    def port(self, part: str) -> int:
        return int(self.environment[f"ITB_{part.upper()}_PORT"])

    @property
    def state(self) -> Path:
        return Path(self.environment["ITB_STATE_DIR"])

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port('kafka')}"

    def database_url(self, service: str) -> str:
        return postgres_url(self.port("postgres"), service)

    async def fetch(self, service: str, query: str, *arguments) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.database_url(service))
        try:
            return await connection.fetch(query, *arguments)
        finally:
            await connection.close()

    def token(self, email: str) -> str:
        """A session token from `itb token`, as a person beside the stack gets one."""
        printed = subprocess.run(
            [sys.executable, "-m", "deploy", "token", email],
            cwd=REPO,
            env=self.environment,
            capture_output=True,
            text=True,
            check=True,
        )
        return printed.stdout.strip()


@dataclass
class StackRound:
    """A project of `contacts` commitments with one contact each, every contact a Read Only member."""

    stack: LocalStack
    contacts: int
    project: str = field(default_factory=lambda: f"P-{uuid.uuid4().hex[:8]}")
    period_id: str = ""
    _read: dict[str, EmailMessage | None] = field(default_factory=dict)  # Maildir key -> the round's message

    @property
    def domain(self) -> str:
        return f"{self.project.lower()}.example"

    def email(self, number: int) -> str:
        return f"contact{number}@{self.domain}"

    async def publish_erp_records(self) -> None:
        admin = member(f"{self.project}-admin", project_id=self.project, permission="admin", email=self.admin_email)
        records = [admin]
        for number in range(self.contacts):
            contact = {"user_id": f"{self.project}-{number}", "name": f"Contact {number}", "email": self.email(number)}
            records.append(
                member(contact["user_id"], project_id=self.project, name=contact["name"], email=contact["email"])
            )
            records.append(
                commitment(f"{self.project}-SC-{number}", project_id=self.project, invoice_contacts=[contact])
            )
        producer = AIOKafkaProducer(bootstrap_servers=self.stack.bootstrap)
        await producer.start()
        try:
            for record in records:
                topic = ERP_COMMITMENTS if hasattr(record, "commitment_id") else ERP_DIRECTORY
                key = getattr(record, "commitment_id", None) or record.user_id
                value, headers = erp_event(record).to_structured()
                await producer.send(
                    topic, value, key=key.encode(), headers=[(n, v.encode()) for n, v in headers.items()]
                )
            await producer.flush()
        finally:
            await producer.stop()
        async with asyncio.timeout(60):  # until every service has heard of them
            while not all(await asyncio.gather(*(self._knows_the_project(service) for service in SERVICES))):
                await asyncio.sleep(0.2)

    async def _knows_the_project(self, service: str) -> bool:
        [row] = await self.stack.fetch(
            service,
            "SELECT (SELECT count(*) FROM erp_commitments WHERE project_id = $1) AS commitments,"
            " (SELECT count(*) FROM erp_project_members WHERE project_id = $1) AS members",
            self.project,
        )
        return row["commitments"] == self.contacts and row["members"] == self.contacts + 1

    @property
    def admin_email(self) -> str:
        return f"alex@{self.domain}"

    async def open_period(self) -> None:
        today = datetime.now(UTC).date()
        dates = {
            "start_date": today.isoformat(),
            "end_date": (today + timedelta(days=30)).isoformat(),
            "due_date": (today + timedelta(days=10)).isoformat(),
        }
        headers = {"Authorization": f"Bearer {self.stack.token(self.admin_email)}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.stack.port('periods')}") as client:
            response = await client.post(f"/api/projects/{self.project}/billing-periods", json=dates, headers=headers)
        assert response.status_code == 201, response.text
        self.period_id = response.json()["id"]

    def _caught(self) -> list[EmailMessage]:
        """The round's messages in the stack's Maildir, each read once (a round has hundreds)."""
        box = mailbox.Maildir(self.stack.state / "mail", create=False)
        for key in box.keys():
            if key not in self._read:
                message = email.message_from_bytes(box.get_bytes(key), policy=email_policy)
                self._read[key] = message if self.domain in str(message.get("X-Rcpt-To", "")) else None
        return [message for message in self._read.values() if message is not None]

    def mail(self) -> dict[str, set[str]]:
        """Each of the round's addresses -> the Message-IDs of the invites it received."""
        received: dict[str, set[str]] = {}
        for message in self._caught():
            received.setdefault(message["To"].addresses[0].addr_spec, set()).add(message["Message-ID"])
        return received

    def emails_per_contact(self) -> dict[str, int]:
        """How many messages each of the round's addresses received, the same message sent twice included."""
        counts: dict[str, int] = {}
        for message in self._caught():
            address = message["To"].addresses[0].addr_spec
            counts[address] = counts.get(address, 0) + 1
        return counts

    async def until_mail_for(self, count: int, within: float = 120) -> None:
        async with asyncio.timeout(within):
            while len(self.mail()) < count:
                await asyncio.sleep(0.2)

    def invite_link(self, number: int) -> str | None:
        for message in self._caught():
            if message["To"].addresses[0].addr_spec == self.email(number):
                body = message.get_body(preferencelist=("plain",)).get_content()
                return re.search(r"http://\S+/invites/[^\s?\"]+", body).group(0)
        return None

    async def answer(self, numbers, answer_of, port_of=lambda number: None, at_once: int = 8) -> None:
        """Each contact answers through the link in their invite, on the responses process `port_of` names
        (the link's own by default), trying again while the service is away or has not heard of the invite."""
        gate = asyncio.Semaphore(at_once)

        async def one(number: int) -> None:
            async with gate:
                await self._answer(number, answer_of(number), port_of(number))

        await asyncio.gather(*(one(number) for number in numbers))

    async def _answer(self, number: int, answer: str, port: int | None) -> None:
        async with asyncio.timeout(120):
            while (link := self.invite_link(number)) is None:
                await asyncio.sleep(0.2)
            link = urlsplit(link)
            base = f"http://127.0.0.1:{port or link.port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                while True:
                    try:
                        page = await client.get(link.path)
                        if page.status_code == 200 and ANSWER_SHOWN[answer] in page.text:
                            return  # recorded by an earlier press whose reply was lost (the service was killed)
                        if page.status_code == 200 and "csrf_token" in page.text:
                            sent = await client.post(link.path, data={"answer": answer, "csrf_token": csrf_of(page)})
                            if sent.status_code == 303:
                                return
                            assert sent.status_code == 409, sent.text  # the invite is still being prepared
                    except httpx.TransportError:  # the service is away (killed, starting again)
                        pass
                    await asyncio.sleep(0.2)

    async def answers(self) -> dict[str, str]:
        rows = await self.stack.fetch(
            "responses",
            "SELECT contact->>'email' AS email, answer FROM answers JOIN invites USING (invite_id)"
            " WHERE project_id = $1",
            self.project,
        )
        return {row["email"]: row["answer"] for row in rows}

    async def until_effects_of(self, answered: dict[str, str], within: float = 120) -> None:
        """Until every contact has an invite, every answer is recorded, every Yes has made its claim and the
        notifier has heard of every No."""
        accepted = {email for email, answer in answered.items() if answer == "yes"}
        async with asyncio.timeout(within):
            while not (
                len(self.mail()) == self.contacts
                and await self.answers() == answered
                and len(await self.claimed()) == len(accepted)
                and len(await self.declined()) == len(answered) - len(accepted)
            ):
                await asyncio.sleep(0.3)

    async def declined(self) -> set[str]:
        """The contacts the notifier knows to have answered No (it sends them no reminder)."""
        rows = await self.stack.fetch(
            "notifier",
            "SELECT contact_email FROM invites WHERE period_id = $1 AND declined",
            uuid.UUID(self.period_id),
        )
        return {row["contact_email"] for row in rows}

    async def claimed(self) -> list[asyncpg.Record]:
        return await self.stack.fetch(
            "claims", "SELECT commitment_id, contact->>'email' AS email FROM claims WHERE project_id = $1", self.project
        )

    async def assert_every_effect_once(self, answered: dict[str, str]) -> None:
        # Every contact invited, once: a second email after a crash would be the same message.
        assert sorted(self.mail()) == sorted(self.email(number) for number in range(self.contacts))
        assert all(len(message_ids) == 1 for message_ids in self.mail().values())
        invites = await self.stack.fetch(
            "notifier", "SELECT * FROM invites WHERE period_id = $1", uuid.UUID(self.period_id)
        )
        assert len(invites) == self.contacts
        # Every answer recorded as given, each Yes made one claim, and the notifier heard of each No.
        assert await self.answers() == answered
        claimed = await self.claimed()
        assert sorted(row["email"] for row in claimed) == sorted(e for e, answer in answered.items() if answer == "yes")
        assert await self.declined() == {email for email, answer in answered.items() if answer == "no"}
        for service in SERVICES:
            twice = await self.stack.fetch(
                service,
                "SELECT event_type, aggregate_id, count(*) FROM outbox WHERE event_type = ANY($1)"
                " GROUP BY event_type, aggregate_id HAVING count(*) > 1",
                list(ONCE_PER_AGGREGATE),
            )
            assert twice == [], f"{service} recorded events twice: {twice}"
        async with topic_reader(self.stack.bootstrap, *(dead_letter_topic(s) for s in SERVICES)) as reader:
            dead = await reader.drain(1.0)
        assert [record.value.decode(errors="replace") for record in dead] == []
