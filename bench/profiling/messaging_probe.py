"""Probe of the event path alone (bench/profiling/messaging.md): one service in a process of its own, on an
embedded broker and PostgreSQL of the probe's own (free ports, durable like `itb up`'s).

    python -m bench.profiling.messaging_probe ingest [--service claims] [--commitments 2000] [--profile out.svg]
    python -m bench.profiling.messaging_probe yes [--samples 200] [--profile out.svg]

`ingest`: the ERP events of 2,000 commitments with 5 contacts each (12,000 events) are published first, then the
service starts and reads them all; the rate is events / time from the first event handled to the last.
`yes`: the claims service runs; each sample publishes an InviteAccepted (as the responses relay would) and waits
for its ProgressClaimCreated on billing.claims; beside it, a plain produce -> consume round trip on the broker.
"""

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.system import publish_erp_events
from deploy.embedded import free_port, postgres_data_dir, postgres_url, start_broker, start_postgres
from shared.contracts.erp import CommitmentUpserted, ProjectMemberUpserted
from shared.contracts.responses import InviteAccepted
from shared.contracts.topics import BILLING_CLAIMS, BILLING_RESPONSES, ERP_COMMITMENTS, ERP_DIRECTORY
from shared.db import migrate, migrations_dirs
from shared.envelope import SOURCE_PREFIX, CloudEvent
from shared.messaging import create_topics
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def erp_events(commitments: int, contacts: int = 5) -> list[tuple[str, str, CloudEvent]]:
    project = {"id": "P-BENCH", "name": "Bench Tower", "timezone": "Australia/Sydney", "currency": "AUD"}
    events = []
    for number in range(commitments):
        people = [
            {"user_id": f"U-{number}-{n}", "name": f"Contact {number}-{n}", "email": f"c{number}-{n}@bench.example"}
            for n in range(contacts)
        ]
        commitment = CommitmentUpserted.model_validate(
            {
                "commitment_id": f"SC-{number}",
                "version": 1,
                "kind": "subcontract",
                "number": f"SC-{number}",
                "title": "Formwork",
                "status": "approved",
                "project": project,
                "vendor": {"id": f"V-{number}", "name": f"Vendor {number}"},
                "invoice_contacts": people,
                "schedule_of_values": [{"line_id": "1", "scheduled_value": "1000.00"}],
            }
        )
        events.append((ERP_COMMITMENTS, commitment.commitment_id, _erp(commitment)))
        for person in people:
            member = ProjectMemberUpserted(
                user_id=person["user_id"],
                version=1,
                name=person["name"],
                email=person["email"],
                project_id=project["id"],
                commitments_permission="read_only",
            )
            events.append((ERP_DIRECTORY, member.user_id, _erp(member)))
    return events


def _erp(record) -> CloudEvent:
    return CloudEvent.new(record.TYPE, "erp://bench", record.model_dump(mode="json"))


class Probe:
    def __init__(self, state: Path, service: str, durable: bool):
        # The services' output, kept after the run: in the temporary folder beside the state folder.
        self.log_path = state.with_name(state.name + f"-{service}.log")
        self.state = state
        self.service = service
        self.durable = durable
        self.children = []

    def start_infrastructure(self) -> None:
        kafka_port, postgres_port = free_port(), free_port()
        self.children.append(start_broker(kafka_port, self.state / "kafka.log"))
        self.children.append(
            start_postgres(
                postgres_data_dir(self.state), postgres_port, self.state / "postgres.log", durable=self.durable
            )
        )
        self.bootstrap = f"127.0.0.1:{kafka_port}"
        self.postgres = postgres_url(postgres_port)
        asyncio.run(create_topics(self.bootstrap))
        self.database_url = self.prepare_database(self.service)

    def prepare_database(self, name: str) -> str:
        url = Settings(database_url=self.postgres).service_database_url(name)
        migrate(url, migrations_dirs(self.service))
        return url

    def start_service(self, code: Path = REPO, database: str | None = None) -> subprocess.Popen:
        """The service from the checkout at `code` (another branch's, to compare), on `database`."""
        self.http_port = free_port()
        environment = {
            **os.environ,
            "SERVICE_NAME": self.service,
            "DATABASE_URL": self.postgres,
            "DATABASE_NAME": database or self.service,
            "KAFKA_GROUP_PREFIX": f"{self.service}-{uuid.uuid4().hex[:6]}",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1500",
            "HTTP_PORT": str(self.http_port),
            "SMTP_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(code),
        }
        log = open(self.log_path, "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"], env=environment, cwd=code, stdout=log, stderr=log
        )
        self.service_process = process
        return process

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by the service, PostgreSQL (all its processes) and the broker."""
        import psutil

        def total(pid: int, children: bool) -> float:
            process = psutil.Process(pid)
            parts = [process, *(process.children(recursive=True) if children else [])]
            return sum(sum(part.cpu_times()[:2]) for part in parts if part.is_running())

        kafka, postgres = self.children
        return {
            "service": total(self.service_process.pid, False),
            "postgres": total(postgres.pid, True),
            "broker": total(kafka.pid, False),
        }

    def stop_service(self) -> None:
        process = getattr(self, "service_process", None)
        if process and process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    def stop(self) -> None:
        self.stop_service()
        for child in reversed(self.children):
            child.stop()


@contextlib.contextmanager
def profiled(pid: int, output: str | None, seconds: int = 600):
    if not output:
        yield
        return
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "-o",
            output,
            "-r",
            "200",
            "-d",
            str(seconds),
            *(["--format", "raw"] if output.endswith(".txt") else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait(30)


async def handled_count(connection, service: str, topics) -> int:
    consumers = [f"{service}.{topic}" for topic in topics]
    return await connection.fetchval("SELECT count(*) FROM inbox WHERE consumer = ANY($1)", consumers)


async def wait_for_ingest(probe: Probe, database_url: str, total: int) -> tuple[float, float]:
    connection = await asyncpg.connect(database_url)
    try:
        first = None
        while True:
            count = await handled_count(connection, probe.service, [ERP_COMMITMENTS, ERP_DIRECTORY])
            if count and first is None:
                first = time.perf_counter()
                probe.cpu_at_first_event = probe.cpu_seconds()
            if count >= total:
                return count, time.perf_counter() - first
            await asyncio.sleep(0.005 if first is None else 0.05)
    finally:
        await connection.close()


def ingest(arguments) -> None:
    """Each checkout in --code in turn (rounds times), on the same broker and events, each on a database of its
    own: figures side by side."""
    probe = Probe(Path(tempfile.mkdtemp(prefix="itb-probe-")), arguments.service, not arguments.not_durable)
    try:
        probe.start_infrastructure()
        events = erp_events(arguments.commitments)
        asyncio.run(publish_erp_events(probe.bootstrap, events))
        for round_number in range(arguments.rounds):
            for number, code in enumerate(arguments.code or [REPO]):
                database = f"{probe.service}_{round_number}_{number}"
                database_url = probe.prepare_database(database)
                process = probe.start_service(Path(code), database)
                with profiled(process.pid, arguments.profile and f"{number}-{arguments.profile}"):
                    count, seconds = asyncio.run(wait_for_ingest(probe, database_url, len(events)))
                before, after = probe.cpu_at_first_event, probe.cpu_seconds()
                used = {part: round(after[part] - before[part], 1) for part in before}
                probe.stop_service()
                print(f"ingest {probe.service} ({code}): {count} events in {seconds:.2f} s = {count / seconds:,.0f}/s")
                print(f"  CPU seconds from the first event to the last: {used}")
    finally:
        probe.stop()
        shutil.rmtree(probe.state, ignore_errors=True)


async def round_trips(bootstrap: str, samples: int) -> list[float]:
    topic = f"probe-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await producer.send_and_wait(topic, b"warm")
    await consumer.start()
    await consumer.getone()
    took = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            await consumer.getone()
            took.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return took


async def yes_to_claim(probe: Probe, samples: int, reader_wait_ms: int) -> list[float]:
    commitments = erp_events(samples, contacts=1)
    await publish_erp_events(probe.bootstrap, [e for e in commitments if e[0] == ERP_COMMITMENTS])
    connection = await asyncpg.connect(probe.database_url)
    while True:
        if await connection.fetchval("SELECT count(*) FROM erp_commitments") >= samples:
            break
        await asyncio.sleep(0.1)
    await connection.close()
    producer = AIOKafkaProducer(bootstrap_servers=probe.bootstrap, acks="all")
    consumer = AIOKafkaConsumer(
        BILLING_CLAIMS, bootstrap_servers=probe.bootstrap, auto_offset_reset="latest", fetch_max_wait_ms=reader_wait_ms
    )
    await producer.start()
    await consumer.start()
    await consumer.seek_to_end()
    took = []
    sent_at = {}
    due = datetime.now(UTC) + timedelta(days=10)
    try:
        for number in range(samples):
            accepted = InviteAccepted(
                invite_id=str(uuid.uuid4()),
                period_id=str(uuid.uuid4()),
                project_id="P-BENCH",
                commitment_id=f"SC-{number}",
                contact={"user_id": f"U-{number}-0", "name": "Contact", "email": f"c{number}-0@bench.example"},
                answer="yes",
                responded_at=datetime.now(UTC),
                due_at=due,
            )
            envelope = CloudEvent.new(
                InviteAccepted.TYPE,
                SOURCE_PREFIX + "responses",
                accepted.model_dump(mode="json"),
                subject=accepted.invite_id,
            )
            value, headers = envelope.to_structured()
            sent_at[accepted.period_id] = datetime.now(UTC)
            started = time.perf_counter()
            await producer.send_and_wait(
                BILLING_RESPONSES,
                value,
                key=accepted.invite_id.encode(),
                headers=[(n, v.encode()) for n, v in headers.items()],
            )
            while True:
                record = await consumer.getone()
                data = json.loads(record.value)["data"]
                if data.get("period_id") == accepted.period_id:
                    break
            took.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
        await producer.stop()
    await explain_stages(probe, sent_at)
    return took


async def explain_stages(probe: Probe, sent_at: dict) -> None:
    """Where each sample's time went, from the claims service's own tables: sent -> its consumer's transaction
    began (the claim's outbox.created_at) -> the relay published the claim (outbox.published_at)."""
    connection = await asyncpg.connect(probe.database_url)
    rows = await connection.fetch(
        "SELECT envelope->'data'->>'period_id' AS period_id, created_at, published_at FROM outbox"
    )
    await connection.close()
    to_consumer, to_relay = [], []
    for row in rows:
        sent = sent_at.get(row["period_id"])
        if sent:
            to_consumer.append((row["created_at"] - sent).total_seconds() * 1000)
            to_relay.append((row["published_at"] - row["created_at"]).total_seconds() * 1000)
    print(f"sent -> consumer transaction began: {percentiles(to_consumer)}")
    print(f"transaction began -> relay published: {percentiles(to_relay)}")


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms"


def yes(arguments) -> None:
    """Each checkout in --code in turn, on the same broker, each on a database of its own."""
    probe = Probe(Path(tempfile.mkdtemp(prefix="itb-probe-")), "claims", not arguments.not_durable)
    try:
        probe.start_infrastructure()
        for number, code in enumerate(arguments.code or [REPO]):
            probe.database_url = probe.prepare_database(f"claims_yes_{number}")
            process = probe.start_service(Path(code), f"claims_yes_{number}")
            time.sleep(arguments.settle)
            raw = asyncio.run(round_trips(probe.bootstrap, arguments.samples))
            with profiled(process.pid, arguments.profile):
                measured = asyncio.run(yes_to_claim(probe, arguments.samples, arguments.reader_wait_ms))
            raw_after = asyncio.run(round_trips(probe.bootstrap, arguments.samples))
            probe.stop_service()
            print(f"{code}: kafka round trip before: {percentiles(raw)}; after: {percentiles(raw_after)}")
            print(f"{code}: InviteAccepted -> ProgressClaimCreated (claims alone): {percentiles(measured)}")
    finally:
        probe.stop()
        shutil.rmtree(probe.state, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["ingest", "yes"])
    parser.add_argument("--service", default="claims")
    parser.add_argument("--commitments", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--settle", type=float, default=8)
    parser.add_argument("--profile")
    parser.add_argument("--code", action="append", help="a checkout to run the service from (repeatable)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--reader-wait-ms", type=int, default=500, help="the billing.claims reader's fetch wait")
    parser.add_argument("--not-durable", action="store_true")
    arguments = parser.parse_args()
    ingest(arguments) if arguments.what == "ingest" else yes(arguments)


if __name__ == "__main__":
    main()
