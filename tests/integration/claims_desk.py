"""The claims service over real HTTP and PostgreSQL, as the integration tests of claims drive it: a project with
a commitment of two lines, its contacts and administrator with passwords, a period opened, and browsers that log
in and fill in the claim page. ERP records and periods are stored through the service's own handlers."""

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx

from services.claims.app import definition as claims
from services.claims.use_cases import accounts as account_use_cases
from shared import period_view
from shared.contracts.base import Person
from shared.contracts.periods import BillingPeriodOpened
from shared.erp import apply_commitment, apply_member_upserted
from tests.factories import commitment, erp_event, member
from tests.support import csrf_of, running_service, service_settings

DUE_AT = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # the end of 5 December in Sydney
BEFORE = datetime(2026, 11, 20, tzinfo=UTC)
AFTER = DUE_AT + timedelta(seconds=1)
PASSWORD = "correct horse battery"

JANE = ("U-9", "Jane Citizen", "read_only")  # progress claim contact of the commitment
RAJ = ("U-10", "Raj Singh", "read_only")  # contact of another commitment only
NELL = ("U-11", "Nell Jones", "none")  # designated on the commitment, but no Commitments permission
ALEX = ("U-1", "Alex Admin", "admin")  # the contractor's administrator


@contextlib.asynccontextmanager
async def claims_desk(infrastructure, database_for):
    """The claims service running on a database of its own, seeded, its clock at BEFORE."""
    database = await database_for("claims")
    settings = service_settings(infrastructure, "claims", database.url)
    async with running_service(claims, settings) as service:
        service.app.state.clock.set(BEFORE)
        desk = ClaimsDesk(service, database.pool)
        await desk.seed()
        try:
            yield desk
        finally:
            for client in desk.clients:
                await client.aclose()


class ClaimsDesk:
    def __init__(self, service, pool):
        self.service = service
        self.pool = pool
        self.clients: list[httpx.AsyncClient] = []
        self.project = f"P-{uuid.uuid4().hex[:8]}"
        self.commitment_id = f"{self.project}-SC-1"
        self.period_id = str(uuid.uuid4())
        self.domain = f"{self.project.lower()}.example"

    def email(self, user) -> str:
        return f"{user[1].split()[0].lower()}@{self.domain}"

    def contact(self, user) -> dict:
        return {"user_id": user[0], "name": user[1], "email": self.email(user)}

    def period_opened(self, period_id: str, start: date, end: date, due: date, due_at: datetime) -> BillingPeriodOpened:
        return BillingPeriodOpened(
            period_id=period_id,
            project_id=self.project,
            project_name="Harbour Tower",
            project_timezone="Australia/Sydney",
            start_date=start,
            end_date=end,
            due_date=due,
            due_at=due_at,
            opened_by=Person(id=ALEX[0], name=ALEX[1], email=self.email(ALEX)),
            opened_at=BEFORE,
        )

    async def seed(self) -> None:
        sheet = commitment(
            self.commitment_id,
            project_id=self.project,
            invoice_contacts=[self.contact(JANE), self.contact(NELL)],
            schedule_of_values=[
                {"line_id": "1", "cost_code": "03-300", "description": "Footings", "scheduled_value": "125000.00"},
                {
                    "line_id": "2",
                    "cost_code": "03-400",
                    "description": "<script>Walls</script>",
                    "scheduled_value": "80000.00",
                },
            ],
        )
        other = commitment(f"{self.project}-SC-2", project_id=self.project, invoice_contacts=[self.contact(RAJ)])
        opened = self.period_opened(self.period_id, date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 5), DUE_AT)
        async with self.pool.acquire() as connection:
            await apply_commitment(connection, sheet)
            await apply_commitment(connection, other)
            for user in (JANE, RAJ, NELL, ALEX):
                person = member(
                    user[0], project_id=self.project, permission=user[2], name=user[1], email=self.email(user)
                )
                await apply_member_upserted(connection, person, erp_event(person))
                await account_use_cases.set_password(connection, user[0], PASSWORD, BEFORE)
            await period_view.period_opened(connection, opened)

    def at(self, moment: datetime) -> None:
        self.service.app.state.clock.set(moment)

    def browser(self) -> httpx.AsyncClient:
        # A generous timeout: logins queue for Argon2 (two at a time), and a busy machine makes each slower.
        client = httpx.AsyncClient(base_url=self.service.base_url, timeout=30)
        self.clients.append(client)
        return client

    async def logged_in(self, user) -> httpx.AsyncClient:
        client = self.browser()
        response = await log_in(client, self.email(user), PASSWORD)
        assert response.status_code == 303, response.text
        return client

    @property
    def new_claim_url(self) -> str:
        return f"/claims/new?commitment={self.commitment_id}&period={self.period_id}"

    async def open_claim(self, user) -> tuple[httpx.AsyncClient, str]:
        """The user's browser, and the claim page's path after creating it on the New Progress Claim page."""
        client = await self.logged_in(user)
        response = await self.create_claim(client, csrf_of(await client.get(self.new_claim_url), "/claims/new"))
        assert response.status_code == 303, response.text
        return client, response.headers["location"]

    async def create_claim(
        self, client: httpx.AsyncClient, csrf: str, commitment: str | None = None, period: str | None = None
    ) -> httpx.Response:
        """The New Progress Claim page's button pressed, with the CSRF token of that page."""
        form = {"csrf_token": csrf, "commitment": commitment or self.commitment_id, "period": period or self.period_id}
        return await client.post("/claims/new", data=form)

    async def events(self, event_type: str) -> list[dict]:
        """This test's events in the outbox (the service also replays earlier tests' events from the topics)."""
        rows = await self.pool.fetch("SELECT envelope FROM outbox WHERE event_type = $1 ORDER BY position", event_type)
        events = [row["envelope"]["data"] for row in rows]
        return [
            data for data in events if self.period_id == data.get("period_id") or self.domain in data.get("email", "")
        ]

    async def claims(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM claims WHERE period_id = $1", uuid.UUID(self.period_id))

    async def api_token(self, user) -> str:
        async with httpx.AsyncClient(base_url=self.service.base_url) as client:
            response = await client.post("/api/sessions", json={"email": self.email(user), "password": PASSWORD})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    async def create_on_behalf(self, user, contact_user_id: str = JANE[0]) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.service.base_url) as client:
            return await client.post(
                f"/api/billing-periods/{self.period_id}/commitments/{self.commitment_id}/claims",
                json={"contact_user_id": contact_user_id},
                headers={"Authorization": f"Bearer {await self.api_token(user)}"},
            )


async def log_in(client: httpx.AsyncClient, email: str, password: str, next: str = "/claims") -> httpx.Response:
    form = await client.get("/login", params={"next": next})
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form), "next": next}
    )


async def fill_in(client: httpx.AsyncClient, claim_path: str, action: str, **amounts: str) -> httpx.Response:
    page = await client.get(claim_path)
    fields = {name.replace("__", "."): value for name, value in amounts.items()}
    return await client.post(claim_path, data={"csrf_token": csrf_of(page, claim_path), "action": action, **fields})
