"""Benchmark: the notifier's invite fan-out into a mail server, side by side with aiosmtplib's raw rate into it.

    .venv/bin/python -m bench.fanout [--commitments 2000] [--contacts-per-commitment 5] [--profile FILE]

Starts its own embedded broker, PostgreSQL (durable, as `make up` runs it) and a counting SMTP server (aiosmtpd,
in a child process, keeping no message), then in the same run:
- the raw rate: aiosmtplib on SMTP_CONNECTIONS reused connections sending ready-made invite-sized messages;
- the notifier service itself (`python -m services.notifier`, its workers, relay and consumers as it runs),
  and a billing period opened for a project with commitments x contacts (the period-opened use case run on the
  notifier's database, as its consumer runs it), timed until the SMTP server accepted the last invite, with the
  notifier's peak RSS (VmHWM); `--profile` records it with py-spy meanwhile.
Stops everything it started.
"""

import argparse
import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiosmtplib
import psutil

from deploy.embedded import (
    ChildProcess,
    free_port,
    postgres_data_dir,
    postgres_url,
    start_broker,
    start_postgres,
    wait_until,
)
from deploy.initialise import initialise
from services.notifier import use_cases
from services.notifier.mail.emails import InviteEmail, build_message
from shared.contracts.base import Contact, Person
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import Invite, InvitedCommitment
from shared.contracts.periods import BillingPeriodOpened
from shared.contracts.topics import SERVICES
from shared.db import create_pool
from shared.erp import apply_commitment
from shared.settings import Settings

PROJECT = {"id": "P-BENCH", "name": "Harbour Tower", "timezone": "Australia/Sydney", "currency": "AUD"}
SENDER = "invites@invite-to-bill.example"


# --- A mail server that accepts everything and counts, keeping nothing ---


def _serve_smtp(port: int, count, last_accepted) -> None:
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope):
            with count.get_lock():
                count.value += 1
                last_accepted.value = time.time()
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class CountingSmtpServer:
    def __init__(self):
        self.port = free_port()
        self.count = multiprocessing.Value("q", 0)
        self.last_accepted = multiprocessing.Value("d", 0.0)
        self.process = multiprocessing.Process(
            target=_serve_smtp, args=(self.port, self.count, self.last_accepted), daemon=True
        )

    def __enter__(self):
        self.process.start()
        wait_until(lambda: _accepts(self.port), "SMTP server")
        return self

    def __exit__(self, *_):
        self.process.terminate()
        self.process.join(5)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- The raw part: aiosmtplib on reused connections ---


def sample_invite() -> Invite:
    return Invite(
        invite_id=str(uuid.uuid4()),
        period_id=str(uuid.uuid4()),
        project_id=PROJECT["id"],
        project_name="Harbour Tower",
        project_timezone="Australia/Sydney",
        commitment=InvitedCommitment(commitment_id="SC-1", number="SC-1", title="Formwork", vendor_name="Concrete Co"),
        contact=Contact(user_id="U-9", name="Jane Citizen", email="jane@concreteco.example"),
        invited_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        due_at=datetime(2026, 12, 5, 13, tzinfo=UTC),
    )


async def smtp_raw_rate(port: int, messages: int, connections: int) -> float:
    email = InviteEmail(invite=sample_invite(), kind="invite", message_id="<x@invite-to-bill>")
    body = build_message(email, Settings(secret_key="bench"), datetime.now(UTC)).as_bytes()
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(connections)]
    for client in clients:
        await client.connect()
    each = messages // connections

    async def send_on(client: aiosmtplib.SMTP) -> None:
        for _ in range(each):
            await client.sendmail(SENDER, ["jane@concreteco.example"], body)

    started = time.perf_counter()
    await asyncio.gather(*(send_on(client) for client in clients))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return each * connections / elapsed


# --- The notifier's fan-out ---


def commitment(number: int, contacts: int) -> CommitmentUpserted:
    return CommitmentUpserted.model_validate(
        {
            "commitment_id": f"SC-{number}",
            "version": 1,
            "kind": "subcontract",
            "number": f"SC-{number}",
            "title": "Formwork and concrete",
            "status": "approved",
            "project": PROJECT,
            "vendor": {"id": f"V-{number}", "name": "Concrete Co Pty Ltd"},
            "invoice_contacts": [
                {"user_id": f"U-{number}-{c}", "name": f"Contact {c}", "email": f"c{c}@v{number}.example"}
                for c in range(contacts)
            ],
            "schedule_of_values": [{"line_id": "1", "scheduled_value": "1000.00"}],
        }
    )


async def seed(database_url: str, commitments: int, contacts: int) -> None:
    pool = await create_pool(database_url)
    async with pool.acquire() as connection, connection.transaction():
        for number in range(commitments):
            await apply_commitment(connection, commitment(number, contacts))
    await pool.close()


async def open_period(database_url: str) -> float:
    """The period-opened use case, as the notifier's consumer runs it; how long its transaction took."""
    opened = BillingPeriodOpened(
        period_id=str(uuid.uuid4()),
        project_id=PROJECT["id"],
        project_name=PROJECT["name"],
        project_timezone=PROJECT["timezone"],
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        due_at=datetime.now(UTC) + timedelta(days=30),
        opened_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        opened_at=datetime.now(UTC),
    )
    pool = await create_pool(database_url)
    started = time.perf_counter()
    async with pool.acquire() as connection, connection.transaction():
        await use_cases.period_opened(connection, opened)
    took = time.perf_counter() - started
    await pool.close()
    return took


def cpu_seconds(pid: int) -> float:
    """CPU time used by the process and its children still running (PostgreSQL's backends, say)."""
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commitments", type=int, default=2000)
    parser.add_argument("--contacts-per-commitment", type=int, default=5)
    parser.add_argument("--raw-messages", type=int, default=4000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--profile", help="record the notifier with py-spy into this file (SVG flame graph)")
    parser.add_argument("--profile-format", default="flamegraph")
    parser.add_argument("--give-up-after", type=float, default=3600, help="seconds to wait for the last invite")
    arguments = parser.parse_args()
    total = arguments.commitments * arguments.contacts_per_commitment

    state = Path(tempfile.mkdtemp(prefix="itb-bench-"))
    state.chmod(0o755)
    children: list[ChildProcess] = []
    try:
        kafka_port, pg_port, http_port = free_port(), free_port(), free_port()
        children.append(start_broker(kafka_port, state / "kafka.log"))
        children.append(start_postgres(postgres_data_dir(state), pg_port, state / "postgres.log"))
        bootstrap = f"127.0.0.1:{kafka_port}"
        settings = Settings(database_url=postgres_url(pg_port))
        initialise({s: settings.service_database_url(s) for s in SERVICES}, bootstrap, settings)
        notifier_url = settings.service_database_url("notifier")
        asyncio.run(seed(notifier_url, arguments.commitments, arguments.contacts_per_commitment))

        with CountingSmtpServer() as smtp:
            raw = asyncio.run(smtp_raw_rate(smtp.port, arguments.raw_messages, arguments.connections))
            print(f"raw: aiosmtplib on {arguments.connections} connections: {raw:.0f} messages a second", flush=True)
            environment = {
                **os.environ,
                "SERVICE_NAME": "notifier",
                "HTTP_PORT": str(http_port),
                "DATABASE_URL": postgres_url(pg_port),
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "SMTP_CONNECTIONS": str(arguments.connections),
                "SECRET_KEY": "bench-secret",
                "LOG_LEVEL": "WARNING",
            }
            notifier = ChildProcess(
                "notifier", [sys.executable, "-m", "services.notifier"], state / "notifier.log", env=environment
            )
            children.append(notifier)
            wait_until(lambda: _ready(http_port), "notifier", notifier, timeout=90)
            before = smtp.count.value
            profiler = None
            if arguments.profile:
                profiler = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(notifier.process.pid),
                        "-o",
                        arguments.profile,
                        "-f",
                        arguments.profile_format,
                        "-r",
                        "200",
                        "--nonblocking",
                    ]
                )
                time.sleep(1)
            parts = {
                "notifier": notifier.process.pid,
                "postgres": children[1].process.pid,
                "broker": children[0].process.pid,
                "smtp server": smtp.process.pid,
            }
            cpu_before = {name: cpu_seconds(pid) for name, pid in parts.items()}
            started = time.time()
            handler = asyncio.run(open_period(notifier_url))
            print(f"period opened: {total} invites written in {handler:.2f} s", flush=True)
            next_progress = time.time() + 10
            while smtp.count.value - before < total:
                time.sleep(0.05)
                if time.time() >= next_progress:
                    next_progress += 10
                    sent = smtp.count.value - before
                    print(
                        f"  {time.time() - started:.0f} s: {sent} accepted; notifier peak RSS "
                        f"{peak_rss_mb(notifier.process.pid):.0f} MB",
                        flush=True,
                    )
                if time.time() - started > arguments.give_up_after:
                    raise RuntimeError(
                        f"only {smtp.count.value - before} of {total} invites arrived in {arguments.give_up_after} s"
                    )
            took = smtp.last_accepted.value - started
            rss = peak_rss_mb(notifier.process.pid)
            cpu = {name: (cpu_seconds(pid) - cpu_before[name]) * 1000 / total for name, pid in parts.items()}
            print("CPU per invite: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items()), flush=True)
            if profiler:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                profiler.wait(60)
            notifier.stop()
            # The machine is shared: the raw rate again after, and the fan-out compared with their mean.
            after = asyncio.run(smtp_raw_rate(smtp.port, arguments.raw_messages, arguments.connections))
            raw = (raw + after) / 2
            print(
                f"fan-out: {total} invites in {took:.2f} s = {total / took:.0f} a second; raw after {after:.0f}, "
                f"ratio to the raw mean {total / took / raw:.2f}; notifier peak RSS {rss:.0f} MB",
                flush=True,
            )
    finally:
        for child in reversed(children):
            child.stop()
        print(f"logs in {state}")


if __name__ == "__main__":
    main()
