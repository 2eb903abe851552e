"""The end-to-end benchmark (`make bench`): the whole stack as `make up` starts it, its own SMTP server, an ERP
client on plain Kafka, and the raw parts (bench/raw.py) measured in the same run, so that every figure has its
counterpart from the same machine at the same time.

    make bench ARGS="--quick --label 'relay batches'"
    .venv/bin/python -m bench.system [--quick] [--label TEXT] [--contacts N]

1. The bench's SMTP server (bench/smtp_sink.py) starts.
2. `itb up --no-demo` starts in a temporary state folder on free ports, its SMTP pointed at that server; the
   start-up time runs from launching it until all four services answer /readyz.
3. An ERP client publishes a project, 2,000 commitments with 5 progress-claim contacts each, each contact a
   Read Only member of the project, and an administrator: until each service's database holds every event.
4. aiosmtplib's rate into the SMTP server on 4 connections, just before the fan-out and again just after it
   (the mean is the raw figure: what the machine allowed while the fan-out ran, as near as it can be told).
5. The administrator opens a billing period through the periods API: until the SMTP server has accepted the
   10,000th invite, with the notifier's peak memory meanwhile. Then until the stack is quiet (every outbox
   published, every consumer group at its topics' ends), so that what follows is not measured behind the
   fan-out's backlog.
6. A Kafka produce -> consume round trip on the stack's broker; then 200 contacts press Yes on their invite
   page (links read from their emails), each on a commitment of its own, one at a time: from the request's
   start until their ProgressClaimCreated is read from billing.claims.
7. The invite page and a FastAPI hello world under the same load generator, one after the other.
8. Unless --quick: a second project with 100,000 contacts, its period opened, to the 100,000th invite.
9. The figures appended to bench/history.jsonl; bench/RESULTS.md and its chart written again.

Every child it starts (the SMTP server, the stack and through it every part) is stopped at the end, also after
a failure or Ctrl-C. Runs on one machine take turns (a lock file in the temporary folder), as two at once would
each slow the other.
"""

import argparse
import asyncio
import calendar
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench import raw, report
from deploy.embedded import ChildProcess, data_outside_state, free_port, port_accepts, postgres_url, wait_until
from deploy.operators.lag import lags
from shared.contracts.claims import ProgressClaimCreated
from shared.contracts.erp import CommitmentUpserted, ProjectMemberUpserted
from shared.contracts.topics import BILLING_CLAIMS, ERP_COMMITMENTS, ERP_DIRECTORY, SERVICES
from shared.envelope import CloudEvent, from_kafka
from shared.erp import user_id_for_email
from shared.session_versions import session_version
from shared.sessions import issue_session_token
from shared.settings import Settings

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ERP_SOURCE = "erp://bench"
CONTACTS_PER_COMMITMENT = 5
YES_SAMPLES = 200
# Kept by the SMTP server per project: the Yes samples' links and one more for the invite page's load. Only
# the first contact's of each commitment: a Yes makes the commitment's claim, and another contact's Yes on the
# same commitment makes none.
LINKS_KEPT = YES_SAMPLES + 50
FIRST_CONTACT = "c0."
LARGE_PROJECT_CONTACTS = 100_000
STARTUP_TIMEOUT_SECONDS = 180
# A wait for ingest or for invites fails once nothing has moved for this long.
STALL_SECONDS = 120
INGEST_POLL_SECONDS = 0.2
# How often a long wait says how far it has got.
PROGRESS_SECONDS = 30
# Held for the whole of a run (the stack stopped included): a second run waits for it.
# The services' own wait on a Kafka fetch, unless --fetch-wait-ms says another (then the bench's consumers too).
SERVICES_FETCH_WAIT_MS = Settings.model_fields["kafka_fetch_max_wait_ms"].default
RUN_LOCK = Path(tempfile.gettempdir()) / "itb-bench.lock"
_CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Ports:
    kafka: int
    postgres: int
    mail_ui: int
    smtp: int
    smtp_control: int
    hello_world: int
    services: dict[str, int]

    @classmethod
    def free(cls) -> "Ports":
        return cls(
            kafka=free_port(),
            postgres=free_port(),
            mail_ui=free_port(),
            smtp=free_port(),
            smtp_control=free_port(),
            hello_world=free_port(),
            services={service: free_port() for service in SERVICES},
        )


@dataclass(frozen=True)
class BenchProject:
    """A project of the ERP's, its contacts all at one mail domain of their own (so the SMTP server counts them
    apart from any other mail)."""

    project_id: str
    commitments: int

    @property
    def contacts(self) -> int:
        return self.commitments * CONTACTS_PER_COMMITMENT

    @property
    def mail_domain(self) -> str:
        return f"{self.project_id.lower()}.bench.example"

    @property
    def record(self) -> dict:
        return {
            "id": self.project_id,
            "name": f"Bench Tower {self.project_id}",
            "timezone": "Australia/Sydney",
            "currency": "AUD",
            "company_name": "Acme Builders Pty Ltd",
        }


ADMINISTRATOR = {"user_id": "U-BENCH-ADMIN", "name": "Alex Admin", "email": "alex.admin@acme.bench.example"}


class Figures(dict):
    """The run's figures (report.py's names), each printed as it is measured."""

    def add(self, name: str, value: float, note: str = "") -> None:
        self[name] = value
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {name:<40} {shown:>12}{'  ' + note if note else ''}", flush=True)


def say(line: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {line}", flush=True)


# --- the children: the SMTP server and the stack ---------------------------------------------------------------


def start_smtp_sink(ports: Ports, logs: Path) -> ChildProcess:
    sink = ChildProcess(
        "smtp-sink",
        [
            sys.executable,
            "-m",
            "bench.smtp_sink",
            *("--smtp-port", str(ports.smtp), "--control-port", str(ports.smtp_control)),
            *("--keep-links", str(LINKS_KEPT), "--links-to", FIRST_CONTACT),
        ],
        logs / "smtp-sink.log",
        cwd=REPO,
    )
    wait_until(lambda: port_accepts(ports.smtp) and port_accepts(ports.smtp_control), "bench SMTP server", sink)
    return sink


def launch_stack(state: Path, ports: Ports, logs: Path, fetch_wait_ms: int) -> ChildProcess:
    """`itb up --no-demo` (what `make up` runs, without the demo) on the bench's ports, mailing the bench's SMTP
    server, its consumers waiting `fetch_wait_ms` on a fetch. Its own broker and PostgreSQL: whatever
    KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL say is left out."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") and not name.startswith("ITB_")
    }
    environment = {
        **inherited,
        "ITB_KAFKA_PORT": str(ports.kafka),
        "ITB_POSTGRES_PORT": str(ports.postgres),
        "ITB_MAIL_UI_PORT": str(ports.mail_ui),
        **{f"ITB_{service.upper()}_PORT": str(port) for service, port in ports.services.items()},
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(ports.smtp),
        "KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms),
    }
    return ChildProcess(
        "stack",
        [sys.executable, "-m", "deploy", "up", "--no-demo", "--state-dir", str(state)],
        logs / "stack.out",
        cwd=REPO,
        env=environment,
    )


async def wait_for_readiness(stack: ChildProcess, ports: Ports, launched: float) -> float:
    """Seconds from `launched` until every service has answered /readyz with 200."""
    waiting = set(SERVICES)
    async with httpx.AsyncClient(timeout=2) as client:
        while waiting:
            if not stack.running():
                raise RuntimeError(f"`itb up` stopped while starting. Its last output:\n{stack.log_tail(40)}")
            if time.monotonic() - launched > STARTUP_TIMEOUT_SECONDS:
                raise RuntimeError(
                    f"{', '.join(sorted(waiting))} not ready {STARTUP_TIMEOUT_SECONDS} s after `itb up` was launched; "
                    f"its output:\n{stack.log_tail(40)}"
                )
            for service in sorted(waiting):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{ports.services[service]}/readyz")).status_code == 200:
                        waiting.discard(service)
            if waiting:
                await asyncio.sleep(0.05)
    return time.monotonic() - launched


def child_pid(parent: int, module: str) -> int:
    """The process `parent` started with `python -m <module>` (a service of the stack)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent_of = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent_of == parent and module.encode() in arguments:
            return int(entry.name)
    raise RuntimeError(f"No process of {module} was found under the stack (process {parent}).")


class PeakMemory:
    """A process's peak resident memory from a point on: its high-water mark (VmHWM) is reset there through
    /proc/PID/clear_refs where the kernel allows it, and its resident memory is sampled too."""

    def __init__(self, pid: int):
        self.pid = pid
        self.sampled_kb = 0
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.mark_was_reset = True
        except OSError:
            self.mark_was_reset = False  # VmHWM would count the start and the ingest too: samples only
        self.sample()

    def _status_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"/proc/{self.pid}/status has no {field}")

    def sample(self) -> None:
        self.sampled_kb = max(self.sampled_kb, self._status_kb("VmRSS"))

    def peak_mb(self) -> float:
        self.sample()
        peak = max(self.sampled_kb, self._status_kb("VmHWM")) if self.mark_was_reset else self.sampled_kb
        return peak / 1024


# --- the SMTP server's counts ------------------------------------------------------------------------------------


class SinkControl:
    def __init__(self, client: httpx.AsyncClient, port: int):
        self._client = client
        self._base = f"http://127.0.0.1:{port}"

    async def domain(self, domain: str) -> tuple[int, float | None]:
        """Messages accepted for the domain, and when the last was (time.monotonic())."""
        found = (await self._client.get(f"{self._base}/stats")).json()["domains"].get(domain)
        return (found["count"], found["last_accepted"]) if found else (0, None)

    async def links(self, domain: str) -> list[tuple[str, str]]:
        return [tuple(pair) for pair in (await self._client.get(f"{self._base}/links/{domain}")).json()]


# --- the ERP client --------------------------------------------------------------------------------------------


def _event(type: str, record_key: str, data: dict, subject: str) -> CloudEvent:
    return CloudEvent.new(
        type,
        ERP_SOURCE,
        data,
        subject=subject,
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ERP_SOURCE}/{record_key}/{data['version']}")),
        time=datetime.now(UTC),
    )


def _member(project: BenchProject, person: dict, permission: str, company: dict) -> tuple[str, str, CloudEvent]:
    member = ProjectMemberUpserted(
        **person, version=1, company=company, project_id=project.project_id, commitments_permission=permission
    )
    key = f"member/{person['user_id']}/{project.project_id}"
    return ERP_DIRECTORY, person["user_id"], _event(member.TYPE, key, member.model_dump(mode="json"), key)


def erp_events(project: BenchProject, members: bool) -> list[tuple[str, str, CloudEvent]]:
    """(topic, key, event): the administrator, then each commitment followed by its contacts' memberships (Read
    Only, which a contact needs to make a claim) when `members`."""
    gc = {"id": "GC", "name": "Acme Builders Pty Ltd"}
    events = [_member(project, ADMINISTRATOR, "admin", gc)]
    for number in range(project.commitments):
        commitment_id = f"SC-{project.project_id}-{number}"
        vendor = {"id": f"V-{number}", "name": f"Vendor {number} Pty Ltd"}
        contacts = [
            {
                "user_id": f"U-{project.project_id}-{number}-{contact}",
                "name": f"Contact {contact} of vendor {number}",
                "email": f"c{contact}.v{number}@{project.mail_domain}",
            }
            for contact in range(CONTACTS_PER_COMMITMENT)
        ]
        commitment = CommitmentUpserted(
            commitment_id=commitment_id,
            version=1,
            kind="subcontract",
            number=commitment_id,
            title="Formwork and concrete",
            status="approved",
            project=project.record,
            vendor=vendor,
            invoice_contacts=contacts,
            retention_percent="5",
            schedule_of_values=[
                {"line_id": "1", "cost_code": "03-100", "description": "Footings", "scheduled_value": "125000.00"},
                {"line_id": "2", "cost_code": "03-300", "description": "Slabs", "scheduled_value": "340000.00"},
            ],
        )
        key = f"commitment/{commitment_id}"
        events.append(
            (ERP_COMMITMENTS, commitment_id, _event(commitment.TYPE, key, commitment.model_dump(mode="json"), key))
        )
        if members:
            events += [_member(project, contact, "read_only", vendor) for contact in contacts]
    return events


async def publish_erp_events(bootstrap: str, events: list[tuple[str, str, CloudEvent]]) -> None:
    """As another producer would: CloudEvents in binary mode, every record acknowledged by the broker."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = []
        for topic, key, event in events:
            value, headers = event.to_binary()
            sent.append(
                await producer.send(
                    topic, value, key=key.encode(), headers=[(name, text.encode()) for name, text in headers.items()]
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


class ServiceDatabases:
    """Each service's own database: the ERP events its inbox holds, the events its outbox has still to publish."""

    def __init__(self, database_url: str):
        settings = Settings(database_url=database_url)
        self._urls = {service: settings.service_database_url(service) for service in SERVICES}
        self._connections: dict[str, asyncpg.Connection] = {}

    async def __aenter__(self) -> "ServiceDatabases":
        for service, url in self._urls.items():
            self._connections[service] = await asyncpg.connect(url)
        return self

    async def __aexit__(self, *exc) -> None:
        for connection in self._connections.values():
            await connection.close()

    async def handled(self, service: str) -> int:
        """How many ERP events the service has handled (committed in its database)."""
        return await self._connections[service].fetchval(
            "SELECT count(*) FROM inbox WHERE consumer = ANY($1::text[])",
            [f"{service}.{ERP_COMMITMENTS}", f"{service}.{ERP_DIRECTORY}"],
        )

    async def events_waiting(self) -> int:
        """Events recorded in the services' outboxes and not yet published (nor refused for good)."""
        total = 0
        for connection in self._connections.values():
            total += await connection.fetchval(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL"
            )
        return total

    async def periods_database(self) -> asyncpg.Connection:
        return self._connections["periods"]


async def ingest(
    bootstrap: str, databases: ServiceDatabases, events: list[tuple[str, str, CloudEvent]]
) -> dict[str, float]:
    """Publish the events; per service, seconds from the start of publishing until its database was seen to hold
    the last one handled (looked at every INGEST_POLL_SECONDS: a figure is late by that at most)."""
    before = {service: await databases.handled(service) for service in SERVICES}
    started = time.monotonic()
    await publish_erp_events(bootstrap, events)
    say(f"{len(events):,} ERP events published in {time.monotonic() - started:.1f} s")
    took: dict[str, float] = {}
    progress = {service: (0, time.monotonic()) for service in SERVICES}
    told = time.monotonic()
    while len(took) < len(SERVICES):
        await asyncio.sleep(INGEST_POLL_SECONDS)
        for service in SERVICES:
            if service in took:
                continue
            handled = await databases.handled(service) - before[service]
            if handled >= len(events):
                took[service] = time.monotonic() - started
                say(f"{service} has handled all {len(events):,} ERP events")
            elif handled > progress[service][0]:
                progress[service] = (handled, time.monotonic())
            elif time.monotonic() - progress[service][1] > STALL_SECONDS:
                raise RuntimeError(
                    f"The {service} service has handled {handled:,} of {len(events):,} ERP events and none more for "
                    f"{STALL_SECONDS} s; its log is in the stack's state folder (logs/{service}.log)."
                )
        if time.monotonic() - told > PROGRESS_SECONDS:
            told = time.monotonic()
            handled = ", ".join(f"{service} {progress[service][0]:,}" for service in SERVICES if service not in took)
            say(f"  ERP events handled so far: {handled}")
    return took


async def settle(bootstrap: str, databases: ServiceDatabases) -> float:
    """Seconds until the stack is quiet: every outbox published and every consumer group at its topics' ends
    (what the fan-out caused, InviteSent to the responses and claims services say, is all handled)."""
    started = time.monotonic()
    while time.monotonic() - started < STALL_SECONDS * 5:
        if not await databases.events_waiting() and not any(lag.lag for lag in await lags(bootstrap)):
            return time.monotonic() - started
        await asyncio.sleep(1)
    raise RuntimeError(f"The stack still had events to publish or to consume {STALL_SECONDS * 5} s after the fan-out.")


# --- the administrator -----------------------------------------------------------------------------------------


def period_dates(project: BenchProject) -> dict:
    """This month in the project's time zone, due a week from today: every Yes is in time."""
    today = datetime.now(ZoneInfo(project.record["timezone"])).date()
    last_day = calendar.monthrange(today.year, today.month)[1]
    return {
        "start_date": today.replace(day=1).isoformat(),
        "end_date": today.replace(day=last_day).isoformat(),
        "due_date": (today + timedelta(days=7)).isoformat(),
    }


async def administrator_token(databases: ServiceDatabases, database_url: str, secret_key: str) -> str:
    """A session for the administrator, as the claims service would sign one at login."""
    connection = await databases.periods_database()
    user_id = await user_id_for_email(connection, ADMINISTRATOR["email"])
    if user_id is None:
        raise RuntimeError("The periods service does not know the benchmark's administrator after the ERP ingest.")
    settings = Settings(database_url=database_url, secret_key=secret_key)
    version = await session_version(connection, user_id)
    return issue_session_token(settings, user_id, ADMINISTRATOR["email"], session_version=version)


async def fan_out(
    client: httpx.AsyncClient,
    sink: SinkControl,
    ports: Ports,
    token: str,
    project: BenchProject,
    memory: PeakMemory,
) -> float:
    """Open the project's period through the API; seconds from the request's start until the SMTP server
    accepted the project's last invite."""
    url = f"http://127.0.0.1:{ports.services['periods']}/api/projects/{project.project_id}/billing-periods"
    opened_at = time.monotonic()
    opened = await client.post(url, json=period_dates(project), headers={"Authorization": f"Bearer {token}"})
    if opened.status_code != 201:
        raise RuntimeError(f"The billing period did not open: {opened.status_code} {opened.text}")
    progress = (0, time.monotonic())
    told = time.monotonic()
    while True:
        memory.sample()
        count, last_accepted = await sink.domain(project.mail_domain)
        if count >= project.contacts:
            return last_accepted - opened_at
        if time.monotonic() - told > PROGRESS_SECONDS:
            told = time.monotonic()
            say(f"  invites accepted so far: {count:,} of {project.contacts:,}")
        if count > progress[0]:
            progress = (count, time.monotonic())
        elif time.monotonic() - progress[1] > STALL_SECONDS:
            raise RuntimeError(
                f"The SMTP server has accepted {count:,} of {project.contacts:,} invites and none more for "
                f"{STALL_SECONDS} s; the notifier's log is in the stack's state folder (logs/notifier.log)."
            )
        await asyncio.sleep(0.1)


# --- a contact's Yes -------------------------------------------------------------------------------------------


class ClaimsWatcher:
    """A plain consumer of billing.claims from its end: when each contact's ProgressClaimCreated was read."""

    def __init__(self, bootstrap: str, fetch_wait_ms: int):
        # Fetched as raw.kafka_round_trip's consumer and the services fetch, so that the figures compare.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=fetch_wait_ms
        )
        self.created: dict[str, float] = {}
        self._waiting: dict[str, asyncio.Future] = {}
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "ClaimsWatcher":
        await self._consumer.start()
        await self._consumer.topics()
        partitions = [TopicPartition(BILLING_CLAIMS, n) for n in self._consumer.partitions_for_topic(BILLING_CLAIMS)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self._consumer.position(partition)  # the end, fixed now: what follows is read
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        async for record in self._consumer:
            read_at = time.monotonic()
            event = from_kafka(record.value, dict(record.headers))
            if event.type == ProgressClaimCreated.TYPE:
                email = event.data["contact"]["email"].lower()
                self.created.setdefault(email, read_at)
                if (waiting := self._waiting.pop(email, None)) is not None:
                    waiting.set_result(read_at)

    async def wait_for(self, email: str, within: float = 30) -> float:
        """When the contact's ProgressClaimCreated was read (time.monotonic())."""
        if email not in self.created:
            self._waiting[email] = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._waiting[email], self._task], timeout=within, return_when=asyncio.FIRST_COMPLETED)
            if self._task.done():
                self._task.result()  # the reader's failure
            if email not in self.created:
                raise RuntimeError(
                    f"No ProgressClaimCreated for {email} was read from {BILLING_CLAIMS} within {within:g} s of the "
                    "Yes; the responses' and claims' logs are in the stack's state folder."
                )
        return self.created[email]


async def invite_form(client: httpx.AsyncClient, link: str) -> str:
    """The invite page's CSRF token, once the responses service has the invite (it answers 202 until then)."""
    for _ in range(600):
        page = await client.get(link)
        if page.status_code == 200 and (token := _CSRF_TOKEN.search(page.text)):
            return token.group(1)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"The invite page {link} did not show its form within a minute ({page.status_code}).")


async def yes_to_claim(
    client: httpx.AsyncClient, bootstrap: str, fetch_wait_ms: int, links: list[tuple[str, str]]
) -> list[float]:
    """Per contact, milliseconds from the start of their Yes (the page's form posted) until their
    ProgressClaimCreated was read from billing.claims."""
    took = []
    async with ClaimsWatcher(bootstrap, fetch_wait_ms) as watcher:
        for recipient, link in links:
            csrf = await invite_form(client, link)
            started = time.monotonic()
            answered = await client.post(link, data={"answer": "yes", "csrf_token": csrf})
            if answered.status_code != 303:
                raise RuntimeError(f"The Yes on {link} was answered {answered.status_code}: {answered.text[:300]}")
            took.append((await watcher.wait_for(recipient.lower()) - started) * 1000)
            await asyncio.sleep(0.05)  # one contact at a time, as people press it
    return took


# --- the run ---------------------------------------------------------------------------------------------------


async def measure(options: argparse.Namespace, ports: Ports, stack: ChildProcess, launched: float, state: Path):
    figures = Figures()
    bootstrap = f"127.0.0.1:{ports.kafka}"
    database_url = postgres_url(ports.postgres)

    figures.add("startup_seconds", await wait_for_readiness(stack, ports, launched), "(fresh state folder)")

    project = BenchProject("P-BENCH-10K", options.contacts // CONTACTS_PER_COMMITMENT)
    events = erp_events(project, members=True)
    say(f"3. ERP: {project.commitments:,} commitments, {project.contacts:,} contacts, {len(events):,} events")
    async with ServiceDatabases(database_url) as databases, httpx.AsyncClient(timeout=30) as client:
        took = await ingest(bootstrap, databases, events)
        figures.add("erp_events", len(events))
        for service in SERVICES:
            figures.add(f"erp_ingest_per_second_{service}", len(events) / took[service], f"({took[service]:.1f} s)")

        secret_key = (state / "secret_key").read_text().strip()
        token = await administrator_token(databases, database_url, secret_key)
        sink = SinkControl(client, ports.smtp_control)
        notifier = child_pid(stack.pid, "services.notifier")

        say("4. aiosmtplib on 4 connections into the bench's SMTP server, before and after the fan-out")
        smtp_before = await raw.smtp_rate("127.0.0.1", ports.smtp)
        say(f"  before: {smtp_before:,.0f} messages/s")
        say(f"5. Period opened: {project.contacts:,} invites to the SMTP server")
        memory = PeakMemory(notifier)
        seconds = await fan_out(client, sink, ports, token, project, memory)
        figures.add("fanout_10k_seconds", seconds)
        figures.add("fanout_10k_per_second", project.contacts / seconds)
        how = "VmHWM, reset at the open" if memory.mark_was_reset else "VmRSS sampled every 0.1 s"
        figures.add("notifier_peak_rss_mb_10k", memory.peak_mb(), f"({how})")
        say(f"The stack was quiet {await settle(bootstrap, databases):.1f} s after the last invite")
        smtp_after = await raw.smtp_rate("127.0.0.1", ports.smtp)
        say(f"  after: {smtp_after:,.0f} messages/s")
        figures.add("smtp_raw_per_second", (smtp_before + smtp_after) / 2, "(the mean of before and after)")

        links = await sink.links(project.mail_domain)
        if len(links) < YES_SAMPLES + 1:
            raise RuntimeError(f"The SMTP server kept {len(links)} invite links, fewer than {YES_SAMPLES + 1}.")
        say("6. A Kafka produce -> consume round trip on the stack's broker")
        round_trip = await raw.kafka_round_trip(bootstrap, options.fetch_wait_ms)
        figures.add("kafka_round_trip_p50_ms", round_trip.p50_ms)
        figures.add("kafka_round_trip_p99_ms", round_trip.p99_ms)
        say(f"   Then {YES_SAMPLES} contacts press Yes, one at a time")
        # Percentiles taken as the round trip's are.
        yes = raw.percentiles(await yes_to_claim(client, bootstrap, options.fetch_wait_ms, links[:YES_SAMPLES]))
        figures.add("yes_to_claim_p50_ms", yes.p50_ms)
        figures.add("yes_to_claim_p99_ms", yes.p99_ms)

        page = links[YES_SAMPLES][1]
        await invite_form(client, page)  # the page answers 200 with its form before it is loaded
        say(f"7. The invite page and a FastAPI hello world under the same load, {options.http_seconds:g} s each")
        invite_page = await asyncio.to_thread(raw.http_rate, page, options.http_seconds)
        figures.add("invite_page_per_second", invite_page.requests_per_second)
        figures.add("invite_page_errors", invite_page.errors)
        with raw.hello_world(ports.hello_world) as hello_world:
            hello = await asyncio.to_thread(raw.http_rate, hello_world, options.http_seconds)
        figures.add("hello_world_per_second", hello.requests_per_second)
        figures.add("hello_world_errors", hello.errors)

        if not options.quick:
            large = BenchProject("P-BENCH-100K", LARGE_PROJECT_CONTACTS // CONTACTS_PER_COMMITMENT)
            # Its contacts get no memberships: a contact is invited without one, and the fan-out is what counts.
            events = erp_events(large, members=False)
            say(f"8. ERP: {large.commitments:,} more commitments, {large.contacts:,} contacts; period opened")
            await ingest(bootstrap, databases, events)
            memory = PeakMemory(notifier)
            seconds = await fan_out(client, sink, ports, token, large, memory)
            figures.add("fanout_100k_seconds", seconds)
            figures.add("fanout_100k_per_second", large.contacts / seconds)
            figures.add("notifier_peak_rss_mb_100k", memory.peak_mb(), f"({how})")
    return figures


def default_label() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return found.stdout.strip() or "unknown"


@contextlib.contextmanager
def one_run_at_a_time() -> Iterator[None]:
    """Benchmark runs on one machine take turns: two at once would each measure the other's load."""
    with open(RUN_LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"Another benchmark run holds {RUN_LOCK}; this one starts when it has finished")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def run(options: argparse.Namespace) -> int:
    with one_run_at_a_time():
        return _run(options)


def _run(options: argparse.Namespace) -> int:
    ports = Ports.free()
    state = Path(tempfile.mkdtemp(prefix="itb-bench-"))
    state.chmod(0o755)  # PostgreSQL may run as `nobody` (under root), and keeps its data in here
    logs = state / "bench-logs"
    kept = "kept" if options.keep_state else "removed at the end"
    say(f"State, logs and PostgreSQL's data in {state} ({kept})")
    with contextlib.ExitStack() as children:
        if not options.keep_state:
            children.callback(_remove_state, state)
        try:
            say("1. The bench's SMTP server")
            sink = start_smtp_sink(ports, logs)
            children.callback(sink.stop)

            say("2. `itb up --no-demo`, until all four services answer /readyz")
            launched = time.monotonic()
            stack = launch_stack(state, ports, logs, options.fetch_wait_ms)
            children.callback(stack.stop, 60)
            figures = asyncio.run(measure(options, ports, stack, launched, state))
        except KeyboardInterrupt:
            say("Interrupted: stopping everything this run started.")
            return 130
        except Exception:
            say(f"The run failed; the stack's logs are in {state}/logs until it stops.")
            raise
        say("Stopping the stack and the SMTP server")

    if options.no_record:
        return 0
    label = options.label or default_label()
    if options.contacts != 10_000:
        label += f" ({options.contacts:,} contacts)"  # the figures' names say 10k
    if options.fetch_wait_ms != SERVICES_FETCH_WAIT_MS:
        label += f" (fetch wait {options.fetch_wait_ms} ms)"
    report.record_run(dict(figures), label)
    report.write_results()
    say(f"Recorded as {label!r} in bench/history.jsonl; bench/RESULTS.md and bench/ratios.png written")
    return 0


def _remove_state(state: Path) -> None:
    for folder in (state, data_outside_state(state)):
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.system", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-contact project (step 8)")
    parser.add_argument("--label", help="the run's name in bench/history.jsonl (default: the commit)")
    parser.add_argument(
        "--contacts", type=int, default=10_000, help="contacts of the first project, 5 per commitment (default 10,000)"
    )
    parser.add_argument(
        "--fetch-wait-ms",
        type=int,
        default=SERVICES_FETCH_WAIT_MS,
        help="how long every consumer (the services', the bench's) waits on a fetch (default: the services' own)",
    )
    parser.add_argument("--http-seconds", type=float, default=10, help="load on each page (default 10)")
    parser.add_argument("--no-record", action="store_true", help="print the figures only (a trial run)")
    parser.add_argument("--keep-state", action="store_true", help="keep the stack's state folder and logs")
    options = parser.parse_args(argv)
    if options.contacts % CONTACTS_PER_COMMITMENT or options.contacts // CONTACTS_PER_COMMITMENT <= YES_SAMPLES:
        parser.error(
            f"--contacts must be a multiple of {CONTACTS_PER_COMMITMENT} with more than {YES_SAMPLES} commitments "
            f"(one Yes on each, and one more invite page): {CONTACTS_PER_COMMITMENT * (YES_SAMPLES + 1)} at least"
        )
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
