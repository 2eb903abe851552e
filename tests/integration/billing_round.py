"""A billing round under test: the periods and notifier services on the session's real broker, PostgreSQL
and SMTP server, with a project of their own, whose contacts' addresses share a domain of their own."""

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx

from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from shared.contracts.topics import BILLING_INVITES, ERP_COMMITMENTS, ERP_DIRECTORY
from shared.sessions import issue_session_token
from tests.factories import commitment, erp_event, member
from tests.support import (
    mail_to,
    publish_event,
    running_service,
    service_settings,
    topic_reader,
    wait_for_mail_to,
)

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
NOVEMBER = {"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "2026-12-05"}


@dataclass
class BillingRound:
    infrastructure: object
    periods: object
    notifier: object
    notifier_pool: object
    project: str = field(default_factory=lambda: f"P-{uuid.uuid4().hex[:8]}")
    maildir: Path | None = None

    @property
    def domain(self) -> str:
        return f"{self.project.lower()}.example"

    def contact(self, name: str) -> dict:
        return {"user_id": f"{self.project}-{name}", "name": name.title(), "email": f"{name}@{self.domain}"}

    async def publish_commitment(self, commitment_id: str, contacts: list[str], version: int = 1, **fields) -> None:
        record = commitment(
            f"{self.project}-{commitment_id}",
            version=version,
            project_id=self.project,
            number=commitment_id,
            invoice_contacts=[self.contact(name) for name in contacts],
            **fields,
        )
        await publish_event(self.bootstrap, ERP_COMMITMENTS, record.commitment_id, erp_event(record))

    async def publish_administrator(self) -> None:
        admin = member(
            f"{self.project}-admin",
            project_id=self.project,
            permission="admin",
            name="Alex Admin",
            email=f"alex@{self.domain}",
        )
        await publish_event(self.bootstrap, ERP_DIRECTORY, admin.user_id, erp_event(admin))

    async def publish_member(self, name: str, permission: str = "read_only") -> None:
        """One of the round's contacts as a member of the project (contacts need Read Only to answer)."""
        contact = self.contact(name)
        record = member(
            contact["user_id"],
            project_id=self.project,
            permission=permission,
            name=contact["name"],
            email=contact["email"],
        )
        await publish_event(self.bootstrap, ERP_DIRECTORY, record.user_id, erp_event(record))

    @property
    def bootstrap(self) -> str:
        return self.infrastructure.bootstrap_servers

    def admin_headers(self) -> dict:
        token = issue_session_token(self.periods.settings, f"{self.project}-admin", f"alex@{self.domain}")
        return {"Authorization": f"Bearer {token}"}

    async def wait_until_known(self, commitments: int) -> None:
        """Until the ERP events have reached both services."""
        async with asyncio.timeout(20):
            while True:
                async with self.notifier_pool.acquire() as connection:
                    known = await connection.fetchval(
                        "SELECT count(*) FROM erp_commitments WHERE project_id = $1", self.project
                    )
                async with httpx.AsyncClient(base_url=self.periods.base_url) as client:
                    listed = await client.get(
                        f"/api/projects/{self.project}/billing-periods", headers=self.admin_headers()
                    )
                if known >= commitments and listed.status_code == 200:
                    return
                await asyncio.sleep(0.1)

    async def open_period(self, dates=NOVEMBER, **fields) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.periods.base_url) as client:
            return await client.post(
                f"/api/projects/{self.project}/billing-periods",
                json=dates | fields,
                headers=self.admin_headers(),
            )

    async def post(self, path: str, body: dict | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.periods.base_url) as client:
            return await client.post(path, json=body, headers=self.admin_headers())

    def mail(self) -> list[EmailMessage]:
        """Messages the SMTP server received for this round's contacts, in order of arrival."""
        return mail_to(self.maildir or self.infrastructure.maildir, self.domain)

    async def wait_for_mail(self, count: int, within: float = 30) -> list[EmailMessage]:
        return await wait_for_mail_to(self.maildir or self.infrastructure.maildir, self.domain, count, within)

    async def settled(self, period_id: str, within: float = 30) -> None:
        """Until no email of the period waits to be sent: each was sent, failed for good or was cancelled."""
        async with asyncio.timeout(within):
            while await self.notifier_pool.fetchval(
                """
                SELECT count(*) FROM deliveries JOIN invites USING (invite_id)
                WHERE period_id = $1 AND status = 'pending'
                """,
                uuid.UUID(period_id),
            ):
                await asyncio.sleep(0.1)

    async def invite_events(self, period_id: str, count: int, type_suffix: str = "sent.v1") -> list[dict]:
        async with topic_reader(self.bootstrap, BILLING_INVITES) as reader:
            records = await reader.wait_for(
                lambda record: (
                    (event := json.loads(record.value))["data"].get("period_id") == period_id
                    and event["type"].endswith(type_suffix)
                ),
                count=count,
            )
        return [json.loads(record.value) for record in records]

    def wake_notifier(self) -> None:
        for worker in self.notifier.app.state.workers:
            worker.wake()


@contextlib.asynccontextmanager
async def billing_round(infrastructure, database_for, **notifier_settings):
    periods_database = await database_for("periods")
    notifier_database = await database_for("notifier")
    async with (
        running_service(periods, service_settings(infrastructure, "periods", periods_database.url)) as periods_service,
        running_service(
            notifier,
            service_settings(
                infrastructure,
                "notifier",
                notifier_database.url,
                smtp_retry_first_delay_seconds=0.3,
                **notifier_settings,
            ),
        ) as notifier_service,
    ):
        periods_service.app.state.clock.set(NOW)
        notifier_service.app.state.clock.set(NOW)
        yield BillingRound(infrastructure, periods_service, notifier_service, notifier_database.pool)


def recipients(messages: list[EmailMessage]) -> list[str]:
    return sorted(message["To"].addresses[0].addr_spec for message in messages)
