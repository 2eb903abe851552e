"""The administrator's pages on the periods service over real HTTP, on the real broker and PostgreSQL: who may
enter, the projects, a project's periods and the form that opens the next one, the confirmation steps, and the
claims service's login page sending the administrator back here."""

import asyncio
import html
import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.claims.app import definition as claims
from services.claims.use_cases import accounts
from services.periods.app import definition as periods
from shared.contracts.invites import InviteSent
from shared.contracts.periods import InvitesResendRequested
from shared.contracts.responses import InviteDeclined
from shared.contracts.topics import BILLING_INVITES, BILLING_PERIODS, BILLING_RESPONSES
from shared.envelope import CloudEvent
from shared.erp import apply_commitment, apply_member_upserted
from shared.sessions import SESSION_COOKIE, issue_session_token
from tests.factories import commitment, erp_event, invite_sent, member
from tests.support import csrf_of, publish_event, running_service, service_settings, topic_reader

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 2 November, 14:00 in Sydney
NOVEMBER = {"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "2026-12-05"}


@pytest.fixture
async def desk(infrastructure, database_for):
    """The periods service for a project of its own, with its administrator, a read-only member, and an
    administrator of another project only."""
    database = await database_for("periods")
    desk = PeriodsDesk(database.pool)
    await desk.seed()
    settings = service_settings(infrastructure, "periods", database.url, claims_public_url="http://claims.example:8084")
    settings = settings.model_copy(update={"periods_public_url": f"http://127.0.0.1:{settings.port}"})
    async with running_service(periods, settings) as service:
        service.app.state.clock.set(NOW)
        desk.service = service
        desk.bootstrap = infrastructure.bootstrap_servers
        yield desk
        for client in desk.clients:
            await client.aclose()


class PeriodsDesk:
    def __init__(self, pool):
        self.pool = pool
        self.project = f"P-{uuid.uuid4().hex[:8]}"
        self.other_project = f"P-{uuid.uuid4().hex[:8]}"
        self.domain = f"{self.project.lower()}.example"
        self.people = {
            "admin": self._member("admin", "Alex Admin", self.project, "admin"),
            "read_only": self._member("rita", "Rita Reader", self.project, "read_only"),
            "other_admin": self._member("olga", "Olga Other", self.other_project, "admin"),
            "jane": self._member("jane", "Jane Citizen", self.project, "read_only"),
        }
        self.clients: list[httpx.AsyncClient] = []
        self.service = None
        self.bootstrap = ""

    def _member(self, name: str, full_name: str, project_id: str, permission: str):
        return member(
            f"{self.project}-{name}",
            project_id=project_id,
            permission=permission,
            name=full_name,
            email=f"{name}@{self.domain}",
        )

    async def seed(self) -> None:
        async with self.pool.acquire() as connection:
            await apply_commitment(
                connection, commitment(self.commitment_id, project_id=self.project, invoice_contacts=[self.jane])
            )
            other = commitment(f"{self.other_project}-SC-1", project_id=self.other_project)
            await apply_commitment(
                connection,
                other.model_copy(update={"project": other.project.model_copy(update={"name": "<b>Other</b> Tower"})}),
            )
            for person in self.people.values():
                await apply_member_upserted(connection, person, erp_event(person))

    def browser(self, who: str | None = None) -> httpx.AsyncClient:
        """A browser holding `who`'s session cookie (None: nobody logged in)."""
        cookies = {}
        if who is not None:
            person = self.people[who]
            cookies[SESSION_COOKIE] = issue_session_token(self.service.settings, person.user_id, person.email)
        client = httpx.AsyncClient(base_url=self.service.base_url, cookies=cookies, timeout=30)
        self.clients.append(client)
        return client

    async def open_from_the_form(self, browser, fields: dict, confirmed: bool = False) -> httpx.Response:
        page = await shown(browser, f"/projects/{self.project}")
        token = csrf_of(page, f"/projects/{self.project}/billing-periods")
        form = {"csrf_token": token, "reminder_days": "", **fields} | ({"confirmed": "yes"} if confirmed else {})
        return await browser.post(f"/projects/{self.project}/billing-periods", data=form)

    @property
    def commitment_id(self) -> str:
        return f"{self.project}-SC-1"

    @property
    def jane(self) -> dict:
        return {"user_id": f"{self.project}-jane", "name": "Jane Citizen", "email": f"jane@{self.domain}"}

    async def opened_november(self, browser) -> str:
        opened = await self.open_from_the_form(browser, NOVEMBER)
        assert opened.status_code == 303, opened.text
        return opened.headers["location"].split("/")[2].split("?")[0]

    async def jane_invited(self, browser, period_id: str) -> str:
        """Jane's InviteSent, as the notifier publishes it, heard by the board: its version route moves."""
        sent = invite_sent(
            str(uuid.uuid4()), period_id, self.project, self.commitment_id, self.jane, sent_at="2026-11-02T03:00:05Z"
        )
        envelope = CloudEvent.new(InviteSent.TYPE, "urn:invite-to-bill:notifier", sent.model_dump(mode="json"))
        await publish_event(self.bootstrap, BILLING_INVITES, sent.invite_id, envelope)
        async with asyncio.timeout(20):
            while (as_of := (await browser.get(f"/billing-periods/{period_id}/board/version")).json()["as_of"]) is None:
                await asyncio.sleep(0.1)
        return as_of

    async def post_on_board(self, browser, period_id: str, action: str, **fields: str) -> httpx.Response:
        """A form of the board posted with the board's token (its forms' tokens are bound to what they act on)."""
        board = await shown(browser, f"/billing-periods/{period_id}")
        path = f"/billing-periods/{period_id}/{action}"
        return await browser.post(path, data={"csrf_token": csrf_of(board, path), **fields})

    async def due_date(self, period_id: str) -> str:
        return (
            await self.pool.fetchval("SELECT due_date FROM billing_periods WHERE period_id = $1", uuid.UUID(period_id))
        ).isoformat()

    async def periods(self) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT start_date, status FROM billing_periods WHERE project_id = $1 ORDER BY start_date", self.project
        )
        return [(row["start_date"].isoformat(), row["status"]) for row in rows]


async def shown(browser: httpx.AsyncClient, path: str, status_code: int = 200) -> httpx.Response:
    """The page, after checking its status and that it holds no inline script, inline style or event attribute
    (the Content-Security-Policy would block them)."""
    page = await browser.get(path)
    assert page.status_code == status_code, page.text
    assert_no_inline_script_or_style(page.text)
    return page


def assert_no_inline_script_or_style(text: str) -> None:
    """And a page's title is text: no markup of the page ends up in it."""
    assert "<" not in re.search(r"<title>(.*?)</title>", text, re.DOTALL).group(1), "markup in the title"
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text) == [], "an inline script"
    assert "<style" not in text and not re.search(r"\sstyle=", text), "an inline style"
    assert not re.search(r"\son[a-z]+=", text), "an event attribute"


def hidden_fields(page: httpx.Response, action: str) -> dict[str, str]:
    """What the page's form posting to `action` sends when its button is clicked (a confirmation step's form)."""
    form = page.text[page.text.index(f'action="{action}"') :].split("</form>")[0]
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    return {name: html.unescape(value) for name, value in fields}


def total(page: httpx.Response, name: str) -> int:
    return int(re.search(rf'id="total-{name}">(\d+)<', page.text).group(1))


def field_error(page: httpx.Response, field: str) -> str:
    found = re.search(rf'id="{field}-error">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else ""


def field_value(page: httpx.Response, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}" name="{field}" value="([^"]*)"', page.text).group(1))


async def test_without_a_session_each_page_sends_the_browser_to_log_in_and_back_to_it(desk):
    anonymous = desk.browser()
    for path in ("/", f"/projects/{desk.project}?due_date=2026-12-05"):
        response = await anonymous.get(path)
        assert response.status_code == 303
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == "http://claims.example:8084/login"
        assert parse_qs(location.query)["next"] == [desk.service.settings.periods_public_url + path]


async def test_only_an_administrator_of_the_project_enters_and_others_are_told_whom_to_ask(desk):
    reader = await shown(desk.browser("read_only"), "/", 403)
    assert "You are not an administrator of any project" in reader.text
    assert "Ask your company" in reader.text
    other = desk.browser("other_admin")
    refused = await shown(other, f"/projects/{desk.project}", 403)
    assert "You need Admin permission on the Commitments tool" in refused.text
    assert "ask the project" in refused.text
    # Olga runs her own project, whose name from the ERP is shown as text, not markup.
    own = await shown(other, "/")
    assert "&lt;b&gt;Other&lt;/b&gt; Tower" in own.text and "<b>Other</b>" not in own.text
    assert (await shown(other, "/projects/P-NOPE", 404)).text.count("There is no project P-NOPE") == 1


async def test_the_administrator_opens_a_period_from_the_project_page_and_it_is_announced(desk, infrastructure):
    admin = desk.browser("admin")
    projects = await shown(admin, "/")
    assert "Harbour Tower" in projects.text and "No billing period is open" in projects.text

    # No period yet: the form suggests this month in Sydney, due five days after it ends.
    page = await shown(admin, f"/projects/{desk.project}")
    assert "This project has no billing periods yet" in page.text
    assert [field_value(page, name) for name in ("start_date", "end_date", "due_date")] == [
        "2026-11-01",
        "2026-11-30",
        "2026-12-05",
    ]
    opened = await desk.open_from_the_form(admin, NOVEMBER | {"reminder_days": "2"})
    assert opened.status_code == 303, opened.text
    period_id = re.fullmatch(r"/billing-periods/([0-9a-f-]{36})\?done=opened", opened.headers["location"]).group(1)
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [record] = await reader.wait_for(lambda r: json.loads(r.value)["data"].get("period_id") == period_id)
    event = json.loads(record.value)
    assert event["type"] == "billing.period.opened.v1"
    assert event["data"]["opened_by"]["name"] == "Alex Admin"
    assert event["data"]["reminder_days_before_due"] == 2

    # The projects page shows it open; the project page lists it and suggests December next.
    assert f'href="/billing-periods/{period_id}"' in (await shown(admin, "/")).text
    page = await shown(admin, f"/projects/{desk.project}")
    assert f'href="/billing-periods/{period_id}"' in page.text and "Open, due 5 December 2026" in page.text
    assert [field_value(page, name) for name in ("start_date", "end_date", "due_date")] == [
        "2026-12-01",
        "2026-12-31",
        "2027-01-05",
    ]


async def test_the_forms_problems_appear_next_to_their_fields_with_the_typed_values_kept(desk):
    admin = desk.browser("admin")
    unreadable = await desk.open_from_the_form(
        admin, {"start_date": "1 Nov", "end_date": "2026-11-30", "due_date": "2026-12-05", "reminder_days": "99"}
    )
    assert unreadable.status_code == 422
    assert_no_inline_script_or_style(unreadable.text)
    assert field_error(unreadable, "start_date") == "Enter the start date as a date, such as 2026-12-01."
    assert field_error(unreadable, "reminder_days").startswith("Enter a whole number of days from 1 to 60")
    assert field_value(unreadable, "start_date") == "1 Nov" and field_value(unreadable, "reminder_days") == "99"
    assert 'aria-describedby="start_date-error"' in unreadable.text

    # The domain's refusals: next to the field they concern when they name one, above the form otherwise.
    backwards = await desk.open_from_the_form(
        admin, {"start_date": "2026-11-30", "end_date": "2026-11-01", "due_date": "2026-12-05"}
    )
    assert backwards.status_code == 422
    assert "The start date 2026-11-30 is after the end date 2026-11-01" in html.unescape(backwards.text)
    assert field_value(backwards, "start_date") == "2026-11-30" and field_value(backwards, "end_date") == "2026-11-01"
    far = await desk.open_from_the_form(
        admin, {"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "9999-12-31"}
    )
    assert far.status_code == 422 and "check the year" in html.unescape(far.text)
    assert await desk.periods() == []

    assert (await desk.open_from_the_form(admin, NOVEMBER)).status_code == 303
    overlapping = await desk.open_from_the_form(
        admin, {"start_date": "2026-11-15", "end_date": "2026-12-14", "due_date": "2026-12-20"}
    )
    assert overlapping.status_code == 409
    assert 'role="alert">The dates overlap the billing period 2026-11-01 to 2026-11-30' in overlapping.text
    assert field_value(overlapping, "start_date") == "2026-11-15"
    assert await desk.periods() == [("2026-11-01", "open")]


async def test_a_form_without_its_pages_token_is_refused_with_a_page_and_changes_nothing(desk):
    admin = desk.browser("admin")
    path = f"/projects/{desk.project}/billing-periods"
    readers_token = csrf_of(await shown(desk.browser("other_admin"), "/"), "http://claims.example:8084/logout")
    for token in ("", "forged", readers_token):
        refused = await admin.post(path, data=NOVEMBER | {"csrf_token": token})
        assert refused.status_code == 403
        assert "Nothing was changed" in refused.text and "<h1>Please use the form on the page</h1>" in refused.text
    # Nor may someone else post the administrator's own form.
    token = csrf_of(await shown(admin, f"/projects/{desk.project}"), path)
    refused = await desk.browser("other_admin").post(path, data=NOVEMBER | {"csrf_token": token})
    assert refused.status_code == 403
    assert await desk.periods() == []


async def test_a_due_date_already_passed_is_asked_about_before_anything_is_opened(desk):
    admin = desk.browser("admin")
    october = {"start_date": "2026-10-01", "end_date": "2026-10-31", "due_date": "2026-11-01"}
    asked = await desk.open_from_the_form(admin, october)
    assert asked.status_code == 200
    assert_no_inline_script_or_style(asked.text)
    text = html.unescape(asked.text)
    assert "has already passed in Australia/Sydney" in text
    assert "no invites will be sent" in text
    assert "contacts cannot create or submit claims for this period" in text
    assert "you create claims on their behalf from the board" in text
    assert ">Open it anyway</button>" in asked.text
    back = re.search(r'href="(/projects/[^"]+)">No, change the dates', asked.text).group(1)
    assert field_value(await shown(admin, html.unescape(back)), "due_date") == "2026-11-01"
    assert await desk.periods() == []

    # The confirmed form carries the typed values and a token of its own.
    confirmed = await admin.post(
        f"/projects/{desk.project}/billing-periods",
        data=hidden_fields(asked, f"/projects/{desk.project}/billing-periods"),
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"].endswith("?done=opened-late")
    assert await desk.periods() == [("2026-10-01", "open")]


async def test_the_board_shows_the_period_and_each_contact_and_says_how_fresh_it_is(desk, infrastructure):
    admin = desk.browser("admin")
    period_id = await desk.opened_november(admin)
    board = await shown(admin, f"/billing-periods/{period_id}?done=opened")
    assert "The billing period is open. Its invites are being sent" in board.text
    assert "<h1>Billing period 1 November 2026 to 30 November 2026</h1>" in board.text
    assert '<script src="/static/board.js" defer></script>' in board.text
    assert total(board, "invited") == 0 and "Nothing has happened on this board yet" in board.text
    before = (await admin.get(f"/billing-periods/{period_id}/board/version")).json()
    assert before["as_of"] is None and before["version"] in board.text
    assert "<caption" in board.text and '<th scope="col">Delivery</th>' in board.text
    assert '<th scope="row">Jane Citizen' in board.text

    # Jane's invite goes out: the version route moves, and the board says she is invited and when.
    as_of = await desk.jane_invited(admin, period_id)
    assert (await admin.get(f"/billing-periods/{period_id}/board/version")).json()["version"] != before["version"]
    assert datetime.fromisoformat(as_of) == datetime(2026, 11, 2, 3, 0, 5, tzinfo=UTC)
    board = await shown(admin, f"/billing-periods/{period_id}")
    assert total(board, "invited") == 1 and total(board, "not-answered") == 1
    assert "Updated <time" in board.text and ">14:00:05</time>" in board.text
    assert "Invited 02 Nov 2026 14:00 by Alex Admin" in board.text
    assert 'Create a claim<span class="visually-hidden"> for Jane Citizen</span>' in board.text
    on_behalf = f"http://claims.example:8084/claims/on-behalf?period={period_id}&amp;commitment={desk.commitment_id}"
    assert f'href="{on_behalf}&amp;contact={desk.jane["user_id"]}"' in board.text

    csv = await admin.get(f"/billing-periods/{period_id}/board.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"] == (
        f'attachment; filename="board-{desk.project}-2026-11-01-to-2026-11-30.csv"'
    )
    assert "Jane Citizen" in csv.text

    # Jane says No, saying why in her own words, then changes the reason: the board shows the newest, as text.
    for minute, reason in (
        (5, {"code": "other", "text": "<b>Roof</b> not ready"}),
        (6, {"code": "no_work_this_period"}),
    ):
        declined = InviteDeclined(
            invite_id=str(uuid.uuid4()),
            period_id=period_id,
            project_id=desk.project,
            commitment_id=desk.commitment_id,
            contact=desk.jane,
            answer="no",
            responded_at=datetime(2026, 11, 2, 3, minute, tzinfo=UTC),
            due_at=datetime(2026, 12, 5, 13, 0, tzinfo=UTC),
            reason=reason,
        )
        envelope = CloudEvent.new(InviteDeclined.TYPE, "urn:invite-to-bill:responses", declined.model_dump(mode="json"))
        await publish_event(desk.bootstrap, BILLING_RESPONSES, declined.invite_id, envelope)
        async with asyncio.timeout(20):
            while f"14:0{minute}; reason:" not in (board := await shown(admin, f"/billing-periods/{period_id}")).text:
                await asyncio.sleep(0.1)
        if minute == 5:
            assert "No, 02 Nov 2026 14:05; reason: Other: &lt;b&gt;Roof&lt;/b&gt; not ready</td>" in board.text
    assert "No, 02 Nov 2026 14:06; reason: No work this period</td>" in board.text

    # Nobody else reads any of it.
    for who, status in ((None, 303), ("read_only", 403), ("other_admin", 403)):
        browser = desk.browser(who)
        assert (await browser.get(f"/billing-periods/{period_id}")).status_code == status
        assert (await browser.get(f"/billing-periods/{period_id}/board.csv")).status_code == status
        assert (await browser.get(f"/billing-periods/{period_id}/board/version")).status_code == (
            status if who else 401
        )
    assert (await shown(admin, f"/billing-periods/{uuid.uuid4()}", 404)).text.count("There is no billing period") == 1


async def test_the_due_date_moves_and_a_day_that_ends_claiming_is_asked_about_first(desk):
    admin = desk.browser("admin")
    period_id = await desk.opened_november(admin)
    later = await desk.post_on_board(admin, period_id, "due-date", due_date="2026-12-08")
    assert later.status_code == 303 and later.headers["location"].endswith("?done=due-date-changed")
    assert await desk.due_date(period_id) == "2026-12-08"

    unreadable = await desk.post_on_board(admin, period_id, "due-date", due_date="next week")
    assert unreadable.status_code == 422
    assert field_error(unreadable, "due_date") == "Enter the due date as a date, such as 2026-12-05."
    assert field_value(unreadable, "due_date") == "next week"
    before_start = await desk.post_on_board(admin, period_id, "due-date", due_date="2026-10-20", confirmed="yes")
    assert "is before the start date" in field_error(before_start, "due_date")

    # Today (2 November in Sydney) or a day already passed: the page says what follows and waits for the click.
    for day, said in (("2026-11-02", "claiming ends at midnight tonight"), ("2026-11-01", "no invites will be sent")):
        asked = await desk.post_on_board(admin, period_id, "due-date", due_date=day)
        assert asked.status_code == 200 and ">Move the due date</button>" in asked.text
        assert said in asked.text and "you create claims on their behalf from the board" in asked.text
        assert_no_inline_script_or_style(asked.text)
        assert await desk.due_date(period_id) == "2026-12-08"
    confirmed = await admin.post(
        f"/billing-periods/{period_id}/due-date",
        data=hidden_fields(asked, f"/billing-periods/{period_id}/due-date"),
    )
    assert confirmed.status_code == 303
    assert await desk.due_date(period_id) == "2026-11-01"


async def test_closing_asks_first_and_resending_says_what_will_happen(desk, infrastructure):
    admin = desk.browser("admin")
    period_id = await desk.opened_november(admin)
    await desk.jane_invited(admin, period_id)
    # The three resend buttons: one commitment's, one contact's row, everyone who has not answered.
    resends = (
        ({"commitment_id": desk.commitment_id}, "resent-commitment", "The invites of this commitment"),
        (
            {"commitment_id": desk.commitment_id, "contact_user_id": desk.jane["user_id"]},
            "resent-contact",
            "The invite will be emailed to this contact again",
        ),
        ({"only_not_answered": "yes"}, "resent-not-answered", "The invites of everyone who has not answered"),
    )
    for fields, done, said in resends:
        resent = await desk.post_on_board(admin, period_id, "resend", **fields)
        assert resent.status_code == 303 and resent.headers["location"].endswith(f"?done={done}")
        assert said in (await shown(admin, resent.headers["location"])).text
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        records = await reader.wait_for(
            lambda r: (
                json.loads(r.value)["type"] == InvitesResendRequested.TYPE
                and json.loads(r.value)["data"]["period_id"] == period_id
            ),
            count=3,
        )
    asked = [json.loads(record.value)["data"] for record in records]
    assert [(a["commitment_ids"], a["contact_user_ids"], a["only_not_answered"]) for a in asked] == [
        ([desk.commitment_id], None, False),
        ([desk.commitment_id], [desk.jane["user_id"]], False),
        (None, None, True),
    ]
    assert {a["requested_by"]["name"] for a in asked} == {"Alex Admin"}
    unknown = await desk.post_on_board(admin, period_id, "resend", commitment_id="SC-NOPE")
    assert unknown.status_code == 422 and "SC-NOPE is not a commitment" in unknown.text

    asked = await desk.post_on_board(admin, period_id, "close")
    assert asked.status_code == 200 and "<h1>Close the billing period 1 November 2026" in asked.text
    assert_no_inline_script_or_style(asked.text)
    assert await desk.periods() == [("2026-11-01", "open")]
    closed = await admin.post(
        f"/billing-periods/{period_id}/close", data=hidden_fields(asked, f"/billing-periods/{period_id}/close")
    )
    assert closed.status_code == 303 and closed.headers["location"].endswith("?done=closed")
    assert await desk.periods() == [("2026-11-01", "closed")]
    board = await shown(admin, closed.headers["location"])
    assert "The billing period is closed" in board.text and "Change the due date" not in board.text
    assert "Resend" not in board.text
    # Without the board's token nothing happens.
    refused = await admin.post(f"/billing-periods/{period_id}/resend", data={"commitment_id": desk.commitment_id})
    assert refused.status_code == 403 and "Nothing was changed" in refused.text


async def test_the_login_page_sends_people_back_to_a_page_of_one_of_the_services_and_nowhere_else(
    infrastructure, database_for
):
    database = await database_for("claims")
    periods_url = "http://periods.example:8081"
    settings = service_settings(infrastructure, "claims", database.url, periods_public_url=periods_url)
    alex = member("U-alex", project_id="P-100", permission="admin", email="alex@pages.example")
    async with database.pool.acquire() as connection:
        await apply_member_upserted(connection, alex, erp_event(alex))
        await accounts.set_password(connection, alex.user_id, "alex's long password", NOW)
    async with running_service(claims, settings) as service, httpx.AsyncClient(base_url=service.base_url) as browser:
        board = f"{periods_url}/billing-periods/{uuid.uuid4()}?done=opened"
        kept = {"/claims/new?commitment=SC-1", f"{periods_url}/", board, f"{settings.claims_public_url}/claims"}
        refused = {
            "//evil.example/claims",
            "/\\evil.example",
            "javascript:alert(1)",
            "http://evil.example/",
            f"{periods_url}@evil.example/",
            "http://periods.example:8081.evil.example/",
            "https://periods.example:8081/",  # not the scheme configured
            "http://periods.example:80812/",
            f"http://someone@{periods_url.removeprefix('http://')}/",
            "\thttp://evil.example/",
            "data:text/html,hello",
        }
        for next in kept | refused:
            page = await browser.get("/login", params={"next": next})
            then = html.unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1))
            assert then == (next if next in kept else "/claims"), next
        form = await browser.get("/login", params={"next": board})
        logged_in = await browser.post(
            "/login",
            data={"email": alex.email, "password": "alex's long password", "csrf_token": csrf_of(form), "next": board},
        )
        assert logged_in.status_code == 303 and logged_in.headers["location"] == board


def scheduler_of(service):
    """The periods service's scheduler (services/periods/scheduler.py), to wake after the test moves the clock."""
    return next(worker for worker in service.app.state.workers if type(worker).__name__ == "Scheduler")


async def post_project_form(browser, desk, action: str, fields: dict) -> httpx.Response:
    """A form of the project's page, posted with its token."""
    page = await shown(browser, f"/projects/{desk.project}")
    path = f"/projects/{desk.project}/{action}"
    return await browser.post(path, data={"csrf_token": csrf_of(page, path), **fields})


async def test_the_administrator_sets_pauses_and_resumes_the_schedule_which_opens_each_period_as_it_starts(
    desk, infrastructure
):
    admin = desk.browser("admin")
    page = await shown(admin, f"/projects/{desk.project}")
    assert "This project has no schedule: you open each period yourself." in page.text
    assert "A schedule opens each billing period for you at midnight at the start of its first day" in page.text
    assert "31 means the last day of every month" in page.text

    # Problems next to their fields, what was typed kept, nothing saved.
    wrong = await post_project_form(
        admin,
        desk,
        "schedule",
        {"cadence": "monthly", "day_of_month": "32", "days_to_claim": "x", "schedule_reminder_days": "0"},
    )
    assert wrong.status_code == 422
    assert_no_inline_script_or_style(wrong.text)
    assert field_error(wrong, "day_of_month") == "Enter the day of the month periods start on, from 1 to 31."
    assert field_error(wrong, "days_to_claim").startswith("Enter the days from a period's end to its due date")
    assert field_error(wrong, "schedule_reminder_days").startswith("Enter a whole number of days from 1 to 60")
    assert field_value(wrong, "day_of_month") == "32" and 'aria-invalid="true"' in wrong.text
    weekly_without_start = await post_project_form(
        admin, desk, "schedule", {"cadence": "weekly", "every_weeks": "2", "first_start": "", "days_to_claim": "3"}
    )
    assert field_error(weekly_without_start, "first_start").startswith("Enter the day the first period starts")
    too_far = await post_project_form(
        admin,
        desk,
        "schedule",
        {"cadence": "weekly", "every_weeks": "2", "first_start": "2029-01-01", "days_to_claim": "3"},
    )
    assert "more than a year from today" in field_error(too_far, "first_start")
    assert await desk.pool.fetchval("SELECT count(*) FROM project_schedules WHERE project_id = $1", desk.project) == 0

    # The project's reminder days, then a monthly schedule from the 1st, set on 2 November: December's period next.
    saved = await post_project_form(admin, desk, "reminders", {"project_reminder_days": "3"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=reminders-saved#reminders")
    saved = await post_project_form(
        admin, desk, "schedule", {"cadence": "monthly", "day_of_month": "1", "days_to_claim": "5"}
    )
    assert saved.status_code == 303, saved.text
    page = await shown(admin, saved.headers["location"].split("#")[0])
    assert 'role="status">The schedule is saved.' in page.text
    assert "Monthly, starting on day 1 of each month; each period is due 5 days after it ends." in page.text
    assert "Set by Alex Admin." in page.text
    assert (
        "The next period, 1 December 2026 to 31 December 2026, due 5 January 2027, opens at midnight at the start of "
        "1 December 2026 (Australia/Sydney)." in page.text
    )
    assert field_value(page, "project_reminder_days") == "3"

    # Paused: nothing opens when December starts; resumed on 3 December: January next, December left to the admin.
    paused = await post_project_form(admin, desk, "schedule/pause", {})
    assert paused.status_code == 303
    assert (
        "It is paused: it opens no period until you resume it."
        in (await shown(admin, f"/projects/{desk.project}")).text
    )
    desk.service.app.state.clock.set(datetime(2026, 12, 2, 20, 0, tzinfo=UTC))  # 3 December, 07:00 in Sydney
    resumed = await post_project_form(admin, desk, "schedule/resume", {})
    assert resumed.status_code == 303 and resumed.headers["location"].endswith("done=schedule-resumed#schedule")
    page = await shown(admin, f"/projects/{desk.project}")
    assert "The next period, 1 January 2027 to 31 January 2027" in page.text
    assert await desk.periods() == []

    # January begins in Sydney: the scheduler opens it, announced as any opening, from Alex with the project's days.
    desk.service.app.state.clock.set(datetime(2026, 12, 31, 13, 0, 5, tzinfo=UTC))
    scheduler_of(desk.service).wake()
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [record] = await reader.wait_for(
            lambda r: json.loads(r.value)["data"].get("project_id") == desk.project and b".opened." in r.value
        )
    event = json.loads(record.value)["data"]
    assert (event["start_date"], event["end_date"], event["due_date"]) == ("2027-01-01", "2027-01-31", "2027-02-05")
    assert event["opened_by"]["name"] == "Alex Admin"
    assert event["reminder_days_before_due"] == 3
    assert await desk.periods() == [("2027-01-01", "open")]
    page = await shown(admin, f"/projects/{desk.project}")
    assert "It last opened the period starting 1 January 2027." in page.text
    assert "The next period, 1 February 2027 to 28 February 2027" in page.text


async def test_the_schedule_s_forms_without_their_pages_token_are_refused_and_change_nothing(desk):
    admin = desk.browser("admin")
    for action, fields in (
        ("schedule", {"cadence": "monthly", "day_of_month": "1", "days_to_claim": "5"}),
        ("schedule/pause", {}),
        ("reminders", {"project_reminder_days": "3"}),
    ):
        refused = await admin.post(f"/projects/{desk.project}/{action}", data={"csrf_token": "forged", **fields})
        assert refused.status_code == 403 and "Nothing was changed" in refused.text
    # The period form's token is not the schedule's.
    page = await shown(admin, f"/projects/{desk.project}")
    token = csrf_of(page, f"/projects/{desk.project}/billing-periods")
    refused = await admin.post(
        f"/projects/{desk.project}/schedule",
        data={"csrf_token": token, "cadence": "monthly", "day_of_month": "1", "days_to_claim": "5"},
    )
    assert refused.status_code == 403
    assert await desk.pool.fetchval("SELECT count(*) FROM project_schedules WHERE project_id = $1", desk.project) == 0
    assert await desk.pool.fetchval("SELECT count(*) FROM project_reminders WHERE project_id = $1", desk.project) == 0
    # Pausing a schedule that does not exist (the page offers no such button) says so.
    schedule_token = csrf_of(page, f"/projects/{desk.project}/schedule")
    missing = await admin.post(f"/projects/{desk.project}/schedule/pause", data={"csrf_token": schedule_token})
    assert missing.status_code == 404 and "has no schedule to pause; set one first." in missing.text
