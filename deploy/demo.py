"""Demo data, published as the ERP would publish it (shared/contracts/erp.py): CloudEvents on erp.* topics.

One project in Australia/Sydney with a commitment of every kind that matters to an Invite to Bill round,
and members holding each Commitments permission level. Event ids are derived from record and version, so
publishing again on every `itb up` is a harmless redelivery. Every member with an email gets a password for
the claims pages.
"""

import asyncio
import calendar
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from aiokafka import AIOKafkaProducer

from services.claims.use_cases.accounts import set_password
from shared.contracts.erp import CommitmentUpserted, ProjectMemberUpserted
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY
from shared.envelope import CloudEvent
from shared.erp import user_id_for_email

ERP_SOURCE = "erp://acme-demo"
PUBLISHED_AT = datetime(2026, 11, 1, tzinfo=UTC)

DEMO_PROJECT_ID = "P-100"
PROJECT = {
    "id": DEMO_PROJECT_ID,
    "name": "Harbour Tower",
    "timezone": "Australia/Sydney",
    "currency": "AUD",
    "company_name": "Acme Builders Pty Ltd",
}
CONCRETE_CO = {"id": "V-7", "name": "Concrete Co Pty Ltd"}
STEEL_SUPPLY = {"id": "V-12", "name": "Harbour Steel Supply"}
GLAZING = {"id": "V-15", "name": "Clearview Glazing"}
LANDSCAPES = {"id": "V-21", "name": "Green Edge Landscapes"}
SPARKS = {"id": "V-30", "name": "Bright Sparks Electrical"}

ADMINISTRATOR_EMAIL = "alex.admin@acme.example"

# (user id, name, email, company, Commitments permission)
MEMBERS = [
    ("U-1", "Alex Admin", ADMINISTRATOR_EMAIL, {"id": "GC", "name": "Acme Builders Pty Ltd"}, "admin"),
    (
        "U-2",
        "Sam Standard",
        "sam.standard@acme.example",
        {"id": "GC", "name": "Acme Builders Pty Ltd"},
        "standard",
    ),
    (
        "U-3",
        "Robin Readonly",
        "robin.readonly@acme.example",
        {"id": "GC", "name": "Acme Builders Pty Ltd"},
        "read_only",
    ),
    (
        "U-4",
        "Noor Noaccess",
        "noor.noaccess@acme.example",
        {"id": "GC", "name": "Acme Builders Pty Ltd"},
        "none",
    ),
    ("U-9", "Jane Citizen", "jane@concreteco.example", CONCRETE_CO, "read_only"),
    ("U-10", "Raj Patel", "raj@concreteco.example", CONCRETE_CO, "read_only"),
    ("U-11", "Mei Chen", "mei@harboursteel.example", STEEL_SUPPLY, "read_only"),
    ("U-12", "Tom Nguyen", "tom@brightsparks.example", SPARKS, "standard"),
    ("U-13", "Ana Lima", "ana@clearview.example", GLAZING, "read_only"),
]


def _contact(user_id: str) -> dict:
    _, name, email, _, _ = next(member for member in MEMBERS if member[0] == user_id)
    return {"user_id": user_id, "name": name, "email": email}


def _line(line_id: str, cost_code: str, description: str, scheduled_value: str) -> dict:
    return {
        "line_id": line_id,
        "cost_code": cost_code,
        "description": description,
        "scheduled_value": scheduled_value,
    }


COMMITMENTS = [
    # Approved subcontract with two contacts: both are invited.
    {
        "commitment_id": "SC-0042",
        "kind": "subcontract",
        "title": "Formwork and concrete",
        "status": "approved",
        "vendor": CONCRETE_CO,
        "invoice_contacts": [_contact("U-9"), _contact("U-10")],
        "retention_percent": "5",
        "schedule_of_values": [
            _line("1", "03-100", "Footings", "125000.00"),
            _line("2", "03-300", "Suspended slabs", "340000.00"),
            _line("3", "03-400", "Columns and core walls", "185500.00"),
        ],
    },
    # Approved purchase order: invited.
    {
        "commitment_id": "PO-0007",
        "kind": "purchase_order",
        "title": "Reinforcing steel supply",
        "status": "approved",
        "vendor": STEEL_SUPPLY,
        "invoice_contacts": [_contact("U-11")],
        "retention_percent": "0",
        "schedule_of_values": [_line("1", "03-200", "Reinforcing bar, delivered", "96400.00")],
    },
    # Draft subcontract: not invited (not_approved).
    {
        "commitment_id": "SC-0050",
        "kind": "subcontract",
        "title": "Facade glazing",
        "status": "draft",
        "vendor": GLAZING,
        "invoice_contacts": [_contact("U-13")],
        "retention_percent": "5",
        "schedule_of_values": [_line("1", "08-400", "Curtain wall", "410000.00")],
    },
    # Approved subcontract with nobody to invite (no_contacts).
    {
        "commitment_id": "SC-0048",
        "kind": "subcontract",
        "title": "Landscaping",
        "status": "approved",
        "vendor": LANDSCAPES,
        "invoice_contacts": [],
        "retention_percent": "5",
        "schedule_of_values": [_line("1", "32-900", "Planting and paving", "58000.00")],
    },
    # Complete subcontract: still invited, for its final claim.
    {
        "commitment_id": "SC-0051",
        "kind": "subcontract",
        "title": "Electrical rough-in",
        "status": "complete",
        "vendor": SPARKS,
        "invoice_contacts": [_contact("U-12")],
        "retention_percent": "10",
        "schedule_of_values": [_line("1", "26-100", "Rough-in, levels 1 to 10", "212000.00")],
    },
]


def demo_period_dates(now: datetime) -> dict:
    """This month in the project's time zone, due a week from today there, with a reminder two days before."""
    today = now.astimezone(ZoneInfo(PROJECT["timezone"])).date()
    last_day = calendar.monthrange(today.year, today.month)[1]
    return {
        "start_date": today.replace(day=1).isoformat(),
        "end_date": today.replace(day=last_day).isoformat(),
        "due_date": (today + timedelta(days=7)).isoformat(),
        "reminder_days_before_due": 2,
    }


def _event(type: str, record_key: str, data: dict) -> CloudEvent:
    return CloudEvent.new(
        type,
        ERP_SOURCE,
        data,
        subject=record_key,
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ERP_SOURCE}/{record_key}/{data['version']}")),
        time=PUBLISHED_AT,
    )


def demo_events() -> list[tuple[str, str, CloudEvent]]:
    """(topic, key, event) for every demo record."""
    events = []
    for user_id, name, email, company, permission in MEMBERS:
        member = ProjectMemberUpserted(
            user_id=user_id,
            version=1,
            name=name,
            email=email,
            company=company,
            project_id=PROJECT["id"],
            commitments_permission=permission,
        )
        data = member.model_dump(mode="json")
        events.append((ERP_DIRECTORY, user_id, _event(member.TYPE, f"member/{user_id}/{PROJECT['id']}", data)))
    for commitment in COMMITMENTS:
        record = CommitmentUpserted.model_validate(
            {**commitment, "version": 1, "number": commitment["commitment_id"], "project": PROJECT}
        )
        data = record.model_dump(mode="json")
        key = record.commitment_id
        events.append((ERP_COMMITMENTS, key, _event(record.TYPE, f"commitment/{key}", data)))
    return events


async def publish_demo_data(bootstrap_servers: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        events = demo_events()
        for topic, key, event in events:
            value, headers = event.to_structured()
            await producer.send_and_wait(
                topic,
                value,
                key=key.encode(),
                headers=[(name, text.encode()) for name, text in headers.items()],
            )
        return len(events)
    finally:
        await producer.stop()


def demo_logins() -> list[tuple[str, str, str]]:
    """(email, name, company name) of every demo user who can log in: everyone with an email."""
    return [(email, name, company["name"]) for _, name, email, company, _ in MEMBERS if email]


def demo_passwords(saved: dict[str, str]) -> dict[str, str]:
    """email -> password for every demo user who can log in: the saved one, or a new random one."""
    return {email: saved.get(email) or secrets.token_urlsafe(9) for email, _, _ in demo_logins()}


async def give_demo_passwords(claims_database_url: str, passwords: dict[str, str], within: float = 60) -> None:
    """Set the passwords once the claims service has stored the demo users from the ERP's directory events
    (a RuntimeError after `within` seconds)."""
    connection = await asyncpg.connect(claims_database_url)
    try:
        user_ids = await _wait_for_users(connection, list(passwords), within)
        now = datetime.now(UTC)
        async with connection.transaction():
            for email, password in passwords.items():
                await set_password(connection, user_ids[email], password, now)
    finally:
        await connection.close()


async def _wait_for_users(connection: asyncpg.Connection, emails: list[str], within: float) -> dict[str, str]:
    deadline = time.monotonic() + within
    while True:
        user_ids = {email: await user_id_for_email(connection, email) for email in emails}
        missing = [email for email, user_id in user_ids.items() if user_id is None]
        if not missing:
            return user_ids
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"The claims service has not stored the demo users {', '.join(missing)} {within:g} seconds after "
                "they were published, so they cannot be given passwords; the claims service's log "
                "(logs/claims.log in the state folder) may say why."
            )
        await asyncio.sleep(0.5)
