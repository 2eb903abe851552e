"""Benchmark: the notifier's fan-out for a project with 10,000 contacts, and how fast invite emails render.

    .venv/bin/python bench/fanout.py [--commitments 2000] [--contacts-per-commitment 5]

Starts its own embedded PostgreSQL on a free port, then stops it. Prints wall time and the peak of Python
memory allocated during the fan-out (tracemalloc), which shows whether contacts are held all at once.
Results are written down in bench/RESULTS.md.
"""

import argparse
import asyncio
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from deploy.embedded import free_port, postgres_url, start_postgres
from services.notifier import use_cases
from services.notifier.mail.emails import InviteEmail, build_message
from shared.contracts.base import Contact, Person
from shared.contracts.erp import CommitmentUpserted
from shared.contracts.invites import Invite, InvitedCommitment
from shared.contracts.periods import BillingPeriodOpened
from shared.db import create_pool, migrate, migrations_dirs
from shared.erp import apply_commitment
from shared.settings import Settings

PROJECT = {"id": "P-BENCH", "name": "Harbour Tower", "timezone": "Australia/Sydney", "currency": "AUD"}


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


async def fan_out(database_url: str, commitments: int, contacts: int) -> None:
    pool = await create_pool(database_url)
    async with pool.acquire() as connection, connection.transaction():
        for number in range(commitments):
            await apply_commitment(connection, commitment(number, contacts))
    opened = BillingPeriodOpened(
        period_id=str(uuid.uuid4()),
        project_id=PROJECT["id"],
        project_name=PROJECT["name"],
        project_timezone=PROJECT["timezone"],
        start_date=date(2026, 11, 1),
        end_date=date(2026, 11, 30),
        due_date=date(2026, 12, 5),
        due_at=datetime(2026, 12, 5, 13, tzinfo=UTC),
        opened_by=Person(id="U-1", name="Alex Admin", email="alex@acme.example"),
        opened_at=datetime.now(UTC),
    )
    tracemalloc.start()
    started = time.perf_counter()
    async with pool.acquire() as connection, connection.transaction():
        await use_cases.period_opened(connection, opened)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    invites = await pool.fetchval("SELECT count(*) FROM deliveries")
    await pool.close()
    print(
        f"fan-out: {invites} invites and deliveries written in {elapsed:.2f} s "
        f"({invites / elapsed:.0f} a second); peak Python memory {peak / 2**20:.1f} MiB"
    )


def render(count: int) -> None:
    settings = Settings(secret_key="bench")
    invite = Invite(
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
    email = InviteEmail(invite=invite, kind="invite", message_id="<x@invite-to-bill>")
    started = time.perf_counter()
    for _ in range(count):
        build_message(email, settings, datetime.now(UTC)).as_bytes()
    elapsed = time.perf_counter() - started
    print(f"render: {count} invite emails built in {elapsed:.2f} s ({count / elapsed:.0f} a second)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commitments", type=int, default=2000)
    parser.add_argument("--contacts-per-commitment", type=int, default=5)
    arguments = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="itb-bench-"))
    state.chmod(0o755)
    port = free_port()
    postgres = start_postgres(state / "postgres", port, state / "postgres.log", durable=False)
    try:
        url = Settings(database_url=postgres_url(port)).service_database_url("notifier")
        migrate(url, migrations_dirs("notifier"))
        asyncio.run(fan_out(url, arguments.commitments, arguments.contacts_per_commitment))
        render(1000)
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
