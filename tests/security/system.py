"""The four services together on the session's real broker, PostgreSQL and SMTP server, with one project of
their own whose records arrive as ERP events, an open billing period, invites sent by the notifier, the
contact's draft claim and a password link emailed to them. The security tests send requests at it."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from services.claims.app import definition as claims
from services.notifier.app import definition as notifier
from services.periods.app import definition as periods
from services.responses.app import definition as responses
from shared.contracts.topics import BILLING_INVITES, ERP_COMMITMENTS, ERP_DIRECTORY
from shared.invite_links import invite_token
from shared.sessions import SESSION_COOKIE, issue_session_token
from tests.factories import commitment, erp_event, member
from tests.integration.test_password_mail import link_in
from tests.support import (
    RunningService,
    csrf_of,
    mail_to,
    publish_event,
    running_service,
    service_settings,
    topic_reader,
)

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # the period below is open and its due date is weeks away
NOVEMBER = {"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "2026-12-05"}
SERVICES = {"periods": periods, "responses": responses, "claims": claims, "notifier": notifier}


@dataclass(frozen=True)
class Caller:
    """Someone who sends requests: a role in the matrix, with the ERP membership that gives it."""

    role: str
    user_id: str | None  # None: anonymous, no session at all
    name: str = ""
    email: str = ""
    project_id: str = ""
    permission: str = ""


@dataclass
class System:
    infrastructure: object
    services: dict[str, RunningService]
    pools: dict[str, object]
    project: str = field(default_factory=lambda: f"P-{uuid.uuid4().hex[:8]}")
    other_project: str = field(default_factory=lambda: f"P-{uuid.uuid4().hex[:8]}")
    period_id: str = ""
    invite_tokens: dict[str, str] = field(default_factory=dict)  # role -> the token of the link emailed to them
    password_token: str = ""  # of the link emailed to the contact
    claim_id: str = ""  # the contact's draft claim
    late_request_id: str = ""  # the other contact's request to claim late (rule 18b), waiting for its answer

    @property
    def domain(self) -> str:
        return f"{self.project.lower()}.example"

    @property
    def commitment_id(self) -> str:
        return f"{self.project}-SC-1"

    @property
    def other_commitment_id(self) -> str:
        return f"{self.project}-SC-2"

    @property
    def people(self) -> dict[str, Caller]:
        def person(role, name, project_id, permission):
            user_id = f"{project_id}-{role}"
            return Caller(role, user_id, name, f"{role.replace('_', '.')}@{self.domain}", project_id, permission)

        return {
            "anonymous": Caller("anonymous", None),
            "other_contact": person("other_contact", "Raj Singh", self.project, "read_only"),
            "read_only": person("read_only", "Rita Reader", self.project, "read_only"),
            "other_admin": person("other_admin", "Olga Other", self.other_project, "admin"),
            "contact": person("contact", "Jane Citizen", self.project, "read_only"),
            "admin": person("admin", "Alex Admin", self.project, "admin"),
        }

    def contact_of(self, role: str) -> dict:
        person = self.people[role]
        return {"user_id": person.user_id, "name": person.name, "email": person.email}

    def base_url(self, service: str) -> str:
        return self.services[service].base_url

    def session_token(self, role: str) -> str | None:
        person = self.people[role]
        if person.user_id is None:
            return None
        return issue_session_token(self.services["claims"].settings, person.user_id, person.email)

    def browser(self, service: str, role: str) -> httpx.AsyncClient:
        """A client for `service` as `role` holds it: the session as a cookie (pages) and a bearer token (API)."""
        token = self.session_token(role)
        cookies = {SESSION_COOKIE: token} if token else {}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url(service), cookies=cookies, headers=headers, timeout=30)

    async def publish_records(self) -> None:
        for commitment_id, contact in ((self.commitment_id, "contact"), (self.other_commitment_id, "other_contact")):
            record = commitment(commitment_id, project_id=self.project, invoice_contacts=[self.contact_of(contact)])
            await publish_event(self.bootstrap, ERP_COMMITMENTS, commitment_id, erp_event(record))
        for person in self.people.values():
            if person.user_id is None:
                continue
            record = member(
                person.user_id,
                project_id=person.project_id,
                permission=person.permission,
                name=person.name,
                email=person.email,
            )
            await publish_event(self.bootstrap, ERP_DIRECTORY, person.user_id, erp_event(record))

    async def wait_until_known(self) -> None:
        """Until every service holds the project's commitments and members."""
        members = len(self.people) - 1
        async with asyncio.timeout(30):
            for pool in self.pools.values():
                while (
                    await pool.fetchval("SELECT count(*) FROM erp_commitments WHERE project_id = $1", self.project) < 2
                    or await pool.fetchval(
                        "SELECT count(*) FROM erp_project_members WHERE project_id = ANY($1)",
                        [self.project, self.other_project],
                    )
                    < members
                ):
                    await asyncio.sleep(0.1)

    async def open_period(self) -> None:
        async with self.browser("periods", "admin") as admin:
            opened = await admin.post(f"/api/projects/{self.project}/billing-periods", json=NOVEMBER)
        assert opened.status_code == 201, opened.text
        self.period_id = opened.json()["id"]

    async def wait_for_invites(self) -> None:
        """The notifier's InviteSent for both contacts, and the invite pages ready to show them."""
        async with topic_reader(self.bootstrap, BILLING_INVITES) as reader:
            records = await reader.wait_for(
                lambda record: json.loads(record.value)["data"].get("period_id") == self.period_id, count=2, within=30
            )
        settings = self.services["responses"].settings
        for record in records:
            data = json.loads(record.value)["data"]
            role = next(role for role in ("contact", "other_contact") if self.contact_of(role) == data["contact"])
            self.invite_tokens[role] = invite_token(settings, data["invite_id"])
        async with httpx.AsyncClient(base_url=self.base_url("responses")) as browser, asyncio.timeout(30):
            for token in self.invite_tokens.values():
                while (await browser.get(f"/invites/{token}")).status_code != 200:
                    await asyncio.sleep(0.1)

    async def claim_on_behalf_of_the_contact(self) -> None:
        """The contact's draft claim, made by the administrator (the contact's invite stays unanswered)."""
        async with self.browser("claims", "admin") as admin:
            made = await admin.post(
                f"/api/billing-periods/{self.period_id}/commitments/{self.commitment_id}/claims",
                json={"contact_user_id": self.people["contact"].user_id},
            )
        assert made.status_code == 201, made.text
        self.claim_id = made.json()["claim_id"]

    async def late_request_of_the_other_contact(self) -> None:
        """A request to claim late, as the other contact would make it after the due date: written straight into
        the claims service's table, since the system's clock is weeks before the due date."""
        self.late_request_id = str(uuid.uuid4())
        admin = self.people["admin"]
        await self.pools["claims"].execute(
            """
            INSERT INTO late_claim_requests (request_id, period_id, project_id, commitment_id, contact_user_id,
                                             contact, asked, requested_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            uuid.UUID(self.late_request_id),
            uuid.UUID(self.period_id),
            self.project,
            self.other_commitment_id,
            self.people["other_contact"].user_id,
            self.contact_of("other_contact"),
            {"id": admin.user_id, "name": admin.name, "email": admin.email},
            NOW,
        )

    async def ask_for_a_password_link_as_the_contact(self) -> None:
        """The password link the notifier emails to the contact, as they would follow it."""
        email = self.people["contact"].email
        async with httpx.AsyncClient(base_url=self.base_url("claims")) as browser:
            form = await browser.get("/password/new")
            asked = await browser.post("/password/new", data={"email": email, "csrf_token": csrf_of(form)})
        assert asked.status_code == 200, asked.text
        async with asyncio.timeout(30):
            while not (
                mails := [
                    message
                    for message in mail_to(self.infrastructure.maildir, self.domain)
                    if message["To"].addresses[0].addr_spec == email and "/password/" in _plain_text(message)
                ]
            ):
                await asyncio.sleep(0.1)
        [message] = mails
        self.password_token = link_in(message).rsplit("/password/", 1)[1]

    @property
    def bootstrap(self) -> str:
        return self.infrastructure.bootstrap_servers


@contextlib.asynccontextmanager
async def whole_system(infrastructure, database_for) -> AsyncIterator[System]:
    """The four services started (each with a fresh database and consumer groups of its own), the project's
    records published, the period opened, invites sent, the contact's claim made, and a password link emailed."""
    pools, urls = {}, {}
    for name in SERVICES:
        database = await database_for(name)
        pools[name], urls[name] = database.pool, database.url
    # The claims service first: the others link to it (the notifier's password links, the invite page's Yes).
    claims_settings = service_settings(infrastructure, "claims", urls["claims"])
    claims_url = f"http://127.0.0.1:{claims_settings.port}"
    async with contextlib.AsyncExitStack() as started:
        running = {}
        for name, definition in SERVICES.items():
            settings = service_settings(
                infrastructure, name, urls[name], claims_public_url=claims_url, smtp_retry_first_delay_seconds=0.3
            )
            if name == "claims":
                settings = claims_settings.model_copy(update={"claims_public_url": claims_url})
            running[name] = await started.enter_async_context(running_service(definition, settings))
            running[name].app.state.clock.set(NOW)
        system = System(infrastructure, running, pools)
        await system.publish_records()
        await system.wait_until_known()
        await system.open_period()
        await system.wait_for_invites()
        await system.claim_on_behalf_of_the_contact()
        await system.late_request_of_the_other_contact()
        await system.ask_for_a_password_link_as_the_contact()
        yield system


def _plain_text(message) -> str:
    return message.get_body(("plain",)).get_content()
