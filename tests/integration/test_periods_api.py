"""The administrators' billing period API over real HTTP, with its events on real Kafka."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.periods.app import definition as periods
from shared import outbox
from shared.contracts.topics import BILLING_PERIODS
from shared.erp import apply_commitment, apply_member_upserted
from shared.sessions import issue_session_token
from tests.factories import commitment, erp_event, member
from tests.integration.billing_round import billing_round
from tests.support import running_service, service_settings, topic_reader

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
NOVEMBER = {"start_date": "2026-11-01", "end_date": "2026-11-30", "due_date": "2026-12-05"}


@pytest.fixture
async def api(infrastructure, database_for):
    """The periods service for a project of its own, with an administrator and members of every other kind."""
    database = await database_for("periods")
    project = f"P-{uuid.uuid4().hex[:8]}"
    other_project = f"P-{uuid.uuid4().hex[:8]}"
    people = {
        "admin": member("U-1", project_id=project, permission="admin", name="Alex Admin", email="alex@acme.example"),
        "standard": member("U-2", project_id=project, permission="standard", email="sam@acme.example"),
        "read_only": member("U-3", project_id=project, permission="read_only", email="robin@acme.example"),
        "other_admin": member("U-5", project_id=other_project, permission="admin", email="olive@acme.example"),
    }
    async with database.pool.acquire() as connection:
        await apply_commitment(connection, commitment(f"SC-{project}", project_id=project))
        await apply_commitment(connection, commitment(f"SC-{other_project}", project_id=other_project))
        for person in people.values():
            await apply_member_upserted(connection, person, erp_event(person))
    settings = service_settings(infrastructure, "periods", database.url)
    async with running_service(periods, settings) as service:
        service.app.state.clock.set(NOW)
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            yield Api(client, project, other_project, settings, people)


class Api:
    def __init__(self, client, project, other_project, settings, people):
        self.client = client
        self.project = project
        self.other_project = other_project
        self._settings = settings
        self._people = people

    def as_(self, who: str) -> dict:
        person = self._people[who]
        return {"Authorization": f"Bearer {issue_session_token(self._settings, person.user_id, person.email)}"}

    async def open(self, dates=NOVEMBER, who="admin", project=None) -> httpx.Response:
        return await self.client.post(
            f"/api/projects/{project or self.project}/billing-periods", json=dates, headers=self.as_(who)
        )


def period_events(reader, period_id: str):
    return lambda record: json.loads(record.value)["data"].get("period_id") == period_id


async def test_a_period_opens_after_the_fact_and_its_due_date_moves_to_a_passed_day_but_not_before_its_start(
    api, infrastructure
):
    """Rule 4: no confirmation through the API; the page asks for it."""
    october = await api.open({"start_date": "2026-10-01", "end_date": "2026-10-31", "due_date": "2026-11-01"})
    assert october.status_code == 201, october.text
    assert october.json()["due_at"] == "2026-11-01T13:00:00Z"  # already passed at NOW
    november = (await api.open()).json()
    url = f"/api/billing-periods/{november['id']}"
    moved = await api.client.patch(url, json={"due_date": "2026-11-01"}, headers=api.as_("admin"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["due_at"] == "2026-11-01T13:00:00Z"
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [opened] = await reader.wait_for(
            lambda r: period_events(reader, october.json()["id"])(r) and b".opened." in r.value
        )
        [changed] = await reader.wait_for(
            lambda r: period_events(reader, november["id"])(r) and b"due_date_changed" in r.value
        )
    assert json.loads(opened.value)["data"]["due_date"] == "2026-11-01"
    assert json.loads(changed.value)["type"] == "billing.period.due_date_changed.v1"
    assert json.loads(changed.value)["data"]["previous_due_date"] == "2026-12-05"
    before_the_start = await api.client.patch(url, json={"due_date": "2026-10-31"}, headers=api.as_("admin"))
    assert before_the_start.status_code == 422
    assert before_the_start.json()["detail"].startswith("The due date 2026-10-31 is before the start date 2026-11-01")


async def test_no_invite_goes_out_for_a_period_opened_after_the_fact_nor_after_its_due_date_is_moved_past(
    infrastructure, database_for, down_smtp_port
):
    """Rule 7, through the notifier: what it has to send is cancelled once the due date has passed."""
    async with billing_round(infrastructure, database_for, smtp_port=down_smtp_port) as round_:
        await round_.publish_administrator()
        await round_.publish_commitment("SC-1", ["jane", "raj"], status="approved")
        await round_.wait_until_known(commitments=1)
        october = await round_.open_period(
            {"start_date": "2026-10-01", "end_date": "2026-10-31", "due_date": "2026-11-01"}
        )
        assert october.status_code == 201, october.text
        await _wait_for_deliveries(round_, october.json()["id"], {"cancelled": 2})
        # November's invites wait for the mail server, which is away, when the due date is moved to a passed day.
        november = (await round_.open_period()).json()
        await _wait_for_deliveries(round_, november["id"], {"pending": 2})
        round_.periods.app.state.clock.set(NOW + timedelta(minutes=5))  # a change is later than the opening
        async with httpx.AsyncClient(base_url=round_.periods.base_url) as client:
            moved = await client.patch(
                f"/api/billing-periods/{november['id']}",
                json={"due_date": "2026-11-01"},
                headers=round_.admin_headers(),
            )
        assert moved.status_code == 200, moved.text
        round_.wake_notifier()
        await _wait_for_deliveries(round_, november["id"], {"cancelled": 2})
    assert round_.mail() == []


async def _wait_for_deliveries(round_, period_id: str, statuses: dict[str, int]) -> None:
    async with asyncio.timeout(30):
        while {
            row["status"]: row["count"]
            for row in await round_.notifier_pool.fetch(
                """
                SELECT status, count(*) FROM deliveries JOIN invites USING (invite_id) WHERE period_id = $1
                GROUP BY status
                """,
                uuid.UUID(period_id),
            )
        } != statuses:
            await asyncio.sleep(0.1)


async def test_an_administrator_opens_a_period_and_billing_period_opened_is_published(api, infrastructure):
    response = await api.client.post(
        f"/api/projects/{api.project}/billing-periods",
        json=NOVEMBER,
        headers={**api.as_("admin"), "X-Correlation-ID": "ticket-4711"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Correlation-ID"] == "ticket-4711"
    period = response.json()
    assert period["status"] == "open"
    assert period["due_at"] == "2026-12-05T13:00:00Z"
    assert period["opened_by"] == {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"}

    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [record] = await reader.wait_for(period_events(reader, period["id"]))
    event = json.loads(record.value)
    assert record.key == period["id"].encode()
    assert event["type"] == "billing.period.opened.v1"
    assert event["source"] == "urn:invite-to-bill:periods"
    assert event["correlationid"] == "ticket-4711"
    assert event["data"] | {"opened_at": None} == {
        "period_id": period["id"],
        "project_id": api.project,
        "project_name": "Harbour Tower",
        "project_timezone": "Australia/Sydney",
        "start_date": "2026-11-01",
        "end_date": "2026-11-30",
        "due_date": "2026-12-05",
        "due_at": "2026-12-05T13:00:00Z",
        "opened_by": {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"},
        "opened_at": None,
        "reminder_days_before_due": None,
    }


async def test_opening_the_next_period_closes_the_open_one_and_announces_both(api, infrastructure):
    november = (await api.open()).json()
    december = await api.open({"start_date": "2026-12-01", "end_date": "2026-12-31", "due_date": "2027-01-06"})
    assert december.status_code == 201, december.text

    listed = (await api.client.get(f"/api/projects/{api.project}/billing-periods", headers=api.as_("admin"))).json()
    assert [(p["start_date"], p["status"]) for p in listed] == [
        ("2026-12-01", "open"),
        ("2026-11-01", "closed"),
    ]
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [closed] = await reader.wait_for(lambda r: period_events(reader, november["id"])(r) and b"closed" in r.value)
    assert json.loads(closed.value)["data"]["reason"] == "superseded_by_new_period"


async def test_without_a_session_token_the_api_answers_401_saying_how_to_log_in(api):
    response = await api.client.post(f"/api/projects/{api.project}/billing-periods", json=NOVEMBER)
    assert response.status_code == 401
    assert "not logged in" in response.json()["detail"]


async def test_a_forged_session_token_is_refused_with_401(api):
    response = await api.client.post(
        f"/api/projects/{api.project}/billing-periods",
        json=NOVEMBER,
        headers={"Authorization": "Bearer forged.token"},
    )
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


@pytest.mark.parametrize("who", ["standard", "read_only", "other_admin"])
async def test_only_an_administrator_of_the_project_may_open_a_period(api, who):
    response = await api.open(who=who)
    assert response.status_code == 403
    assert "Admin permission on the Commitments tool" in response.json()["detail"]


async def test_an_unknown_project_is_a_404_that_says_so(api):
    response = await api.open(project="P-NOPE")
    assert response.status_code == 404
    assert "There is no project P-NOPE" in response.json()["detail"]


async def test_dates_in_the_wrong_order_are_a_422_that_says_which(api):
    response = await api.open({"start_date": "2026-11-30", "end_date": "2026-11-01", "due_date": "2026-12-05"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("The start date 2026-11-30 is after the end date 2026-11-01")


async def test_an_overlapping_period_is_a_409_naming_the_period_it_overlaps(api):
    await api.open()
    response = await api.open({"start_date": "2026-11-15", "end_date": "2026-12-15", "due_date": "2026-12-20"})
    assert response.status_code == 409
    assert "overlap the billing period 2026-11-01 to 2026-11-30" in response.json()["detail"]


async def test_a_malformed_body_is_a_422_naming_each_field_without_a_stack_trace(api):
    response = await api.client.post(
        f"/api/projects/{api.project}/billing-periods",
        json={"start_date": "first of november", "due_date": "2026-12-05", "colour": "red"},
        headers=api.as_("admin"),
    )
    assert response.status_code == 422
    body = response.json()
    assert {problem["field"] for problem in body["problems"]} == {"start_date", "end_date", "colour"}
    assert body["detail"].startswith("The request is not valid:")
    assert "Traceback" not in response.text


async def test_a_body_that_is_not_json_is_a_422_not_a_500(api):
    response = await api.client.post(
        f"/api/projects/{api.project}/billing-periods",
        content=b"start_date=2026-11-01",
        headers={**api.as_("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "not valid" in response.json()["detail"]


async def test_an_administrator_moves_the_due_date_and_billing_period_due_date_changed_is_published(
    api, infrastructure
):
    period = (await api.open()).json()
    response = await api.client.patch(
        f"/api/billing-periods/{period['id']}", json={"due_date": "2026-12-12"}, headers=api.as_("admin")
    )
    assert response.status_code == 200, response.text
    assert response.json()["due_at"] == "2026-12-12T13:00:00Z"
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [changed] = await reader.wait_for(
            lambda r: period_events(reader, period["id"])(r) and b"due_date_changed" in r.value
        )
    data = json.loads(changed.value)["data"]
    assert (data["previous_due_date"], data["due_date"]) == ("2026-12-05", "2026-12-12")


async def test_a_due_date_before_the_start_is_refused_and_the_period_keeps_its_date(api):
    period = (await api.open()).json()
    response = await api.client.patch(
        f"/api/billing-periods/{period['id']}", json={"due_date": "2026-10-01"}, headers=api.as_("admin")
    )
    assert response.status_code == 422
    again = await api.client.get(f"/api/billing-periods/{period['id']}", headers=api.as_("admin"))
    assert again.json()["due_date"] == "2026-12-05"


async def test_closing_a_period_twice_is_a_409(api):
    period = (await api.open()).json()
    first = await api.client.post(f"/api/billing-periods/{period['id']}/close", headers=api.as_("admin"))
    second = await api.client.post(f"/api/billing-periods/{period['id']}/close", headers=api.as_("admin"))
    assert first.status_code == 200
    assert first.json()["status"] == "closed"
    assert second.status_code == 409
    assert "already closed" in second.json()["detail"]


@pytest.mark.parametrize("period_id", ["not-a-uuid", str(uuid.uuid4())], ids=["not-a-uuid", "unknown-uuid"])
async def test_an_unknown_period_is_a_404_that_says_so(api, period_id):
    response = await api.client.get(f"/api/billing-periods/{period_id}", headers=api.as_("admin"))
    assert response.status_code == 404
    assert f"no billing period with id {period_id}" in response.json()["detail"]


async def test_an_administrator_of_another_project_cannot_see_the_period(api):
    period = (await api.open()).json()
    response = await api.client.get(f"/api/billing-periods/{period['id']}", headers=api.as_("other_admin"))
    assert response.status_code == 403


async def test_the_service_reports_alive_and_ready_and_serves_its_openapi_document(api):
    assert (await api.client.get("/healthz")).json() == {"status": "alive"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() | {"events_refused_since_start": 0} == {
        "status": "ready",
        "database": "ok",
        "broker": "ok",
        "outbox": "ok",
        "consumers": "ok",
        "failed_events": 0,
        "waiting_events": 0,
        "oldest_event_waiting_seconds": 0,
        "events_refused_since_start": 0,
    }
    document = (await api.client.get("/openapi.json")).json()
    assert "/api/projects/{project_id}/billing-periods" in document["paths"]


async def test_the_session_cookie_is_enough_to_read_but_not_to_change_anything(api):
    token = api.as_("admin")["Authorization"].removeprefix("Bearer ")
    api.client.cookies.set("itb_session", token)
    listed = await api.client.get(f"/api/projects/{api.project}/billing-periods")
    opened = await api.client.post(f"/api/projects/{api.project}/billing-periods", json=NOVEMBER)
    assert listed.status_code == 200
    assert opened.status_code == 401


@pytest.mark.parametrize(
    "dates",
    [
        NOVEMBER | {"due_date": "9999-12-31"},
        NOVEMBER | {"end_date": "9999-12-30", "due_date": "9999-12-31"},
        {"start_date": "0001-01-01", "end_date": "0001-01-31", "due_date": "0001-02-05"},
    ],
    ids=["due-at-the-end-of-time", "end-at-the-end-of-time", "year-one"],
)
async def test_dates_far_outside_any_real_project_are_a_422_saying_the_range(api, dates):
    response = await api.open(dates)
    assert response.status_code == 422, response.text
    assert "is more than 10 years from today" in response.json()["detail"]
    assert "so check the year" in response.json()["detail"]


async def test_moving_the_due_date_to_the_end_of_time_is_a_422_and_the_period_keeps_its_date(api):
    period = (await api.open()).json()
    response = await api.client.patch(
        f"/api/billing-periods/{period['id']}", json={"due_date": "9999-12-31"}, headers=api.as_("admin")
    )
    assert response.status_code == 422, response.text
    assert "The due date 9999-12-31 is more than 10 years from today" in response.json()["detail"]
    again = await api.client.get(f"/api/billing-periods/{period['id']}", headers=api.as_("admin"))
    assert again.json()["due_date"] == "2026-12-05"


async def resend(api, period_id: str, body) -> httpx.Response:
    return await api.client.post(
        f"/api/billing-periods/{period_id}/invites/resend", json=body, headers=api.as_("admin")
    )


async def test_a_resend_of_the_project_s_commitment_is_accepted_and_published(api, infrastructure):
    period = (await api.open()).json()
    response = await resend(api, period["id"], {"commitment_ids": [f"SC-{api.project}"]})
    assert response.status_code == 202, response.text
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [requested] = await reader.wait_for(
            lambda r: period_events(reader, period["id"])(r) and b"resend_requested" in r.value
        )
    assert json.loads(requested.value)["data"]["commitment_ids"] == [f"SC-{api.project}"]


async def test_a_resend_naming_more_than_500_commitments_is_a_422_saying_the_limit(api):
    period = (await api.open()).json()
    response = await resend(api, period["id"], {"commitment_ids": [f"SC-{n}" for n in range(501)]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("A resend names at most 500 commitments and this one names 501;")


async def test_a_resend_naming_commitments_of_no_or_another_project_is_a_422_listing_them(api):
    period = (await api.open()).json()
    named = [f"SC-{api.project}", f"SC-{api.other_project}", *(f"SC-NOPE-{n}" for n in range(20))]
    response = await resend(api, period["id"], {"commitment_ids": named})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"SC-{api.other_project}, SC-NOPE-0, SC-NOPE-1,")
    assert f"SC-NOPE-8 and 11 more are not commitments of project {api.project};" in detail
    assert f"SC-{api.project}," not in detail


@pytest.mark.parametrize(
    "body",
    [
        {"commitment_ids": []},
        {"commitment_ids": ["SC-\u0000"]},
        {"commitment_ids": [1, {"id": 2}]},
        {"commitment_ids": "SC-1"},
        {"commitment_ids": ["x" * 100_000]},
        [],
    ],
    ids=["empty", "nul-character", "not-strings", "not-a-list", "a-huge-id", "not-an-object"],
)
async def test_odd_resend_bodies_are_a_4xx_that_says_why_never_a_500(api, body):
    period = (await api.open()).json()
    response = await resend(api, period["id"], body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"].endswith(".")


async def test_a_request_whose_event_would_be_too_large_is_a_413_saying_what_to_do(api, monkeypatch):
    period = (await api.open()).json()
    monkeypatch.setattr(outbox, "event_limit_bytes", lambda: 300)  # a resend's event is larger than this
    response = await resend(api, period["id"], {"commitment_ids": [f"SC-{api.project}"]})
    assert response.status_code == 413, response.text
    assert response.json()["detail"].startswith("This would publish an event (billing.invites.resend_requested.v1)")
    assert response.json()["detail"].endswith("ask for less in one request (for example, fewer commitments at a time).")


async def test_a_resend_to_one_contact_not_answered_yet_is_published_from_who_asked_and_said_in_a_sentence(
    api, infrastructure
):
    period = (await api.open()).json()
    response = await resend(api, period["id"], {"contact_user_ids": ["U-9", "U-9"], "only_not_answered": True})
    assert response.status_code == 202, response.text
    assert response.json() == {"detail": "The invites not answered yet to 1 contact will be sent again."}
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [requested] = await reader.wait_for(
            lambda r: period_events(reader, period["id"])(r) and b"resend_requested" in r.value
        )
    data = json.loads(requested.value)["data"]
    assert (data["commitment_ids"], data["contact_user_ids"], data["only_not_answered"]) == (None, ["U-9"], True)
    assert data["requested_by"] == {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"}

    document = (await api.client.get("/openapi.json")).json()
    fields = document["components"]["schemas"]["InviteResend"]["properties"]
    assert "at most 500" in fields["contact_user_ids"]["description"]
    assert "nobody has answered yet" in fields["only_not_answered"]["description"]


async def test_a_resend_to_people_who_are_not_contacts_of_the_commitments_is_a_422_naming_them(api):
    period = (await api.open()).json()
    # U-2 is a member of the project but no commitment's contact; SC-<other project> is not the project's.
    for body, starts in [
        ({"contact_user_ids": ["U-9", "U-2"]}, f"U-2 is not a contact of any commitment of project {api.project};"),
        ({"commitment_ids": [f"SC-{api.project}"], "contact_user_ids": ["U-2"]}, "U-2 is not a contact of the "),
    ]:
        response = await resend(api, period["id"], body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith(starts)
        assert response.json()["detail"].endswith("or leave contact_user_ids out to resend to every contact.")


async def test_odd_narrowed_resends_are_a_4xx_that_says_why_never_a_500(api):
    period = (await api.open()).json()
    for body in [
        {"contact_user_ids": []},
        {"contact_user_ids": [f"U-{n}" for n in range(501)]},
        {"contact_user_ids": ["U-\u0000"]},
        {"contact_user_ids": "U-9"},
        {"only_not_answered": "sometimes"},
        {"only_not_answered": None},
    ]:
        response = await resend(api, period["id"], body)
        assert 400 <= response.status_code < 500, (body, response.text)
        assert response.json()["detail"].endswith("."), body


async def test_an_administrator_sets_reads_pauses_and_resumes_a_schedule_and_others_may_not(api):
    url = f"/api/projects/{api.project}/schedule"
    missing = await api.client.get(url, headers=api.as_("admin"))
    assert missing.status_code == 404 and "has no schedule; set one with PUT" in missing.json()["detail"]
    fortnightly = {"cadence": "weekly", "every_weeks": 2, "first_start": "2026-11-09", "days_to_claim": 3}
    for who in ("standard", "read_only", "other_admin"):
        refused = await api.client.put(url, json=fortnightly, headers=api.as_(who))
        assert refused.status_code == 403 and "You need Admin permission" in refused.json()["detail"]
    saved = await api.client.put(url, json=fortnightly, headers=api.as_("admin"))
    assert saved.status_code == 200, saved.text
    schedule = saved.json()
    assert schedule["described"] == "Every 2 weeks from 9 November 2026; each period is due 3 days after it ends."
    assert schedule["set_by"]["name"] == "Alex Admin" and schedule["paused"] is False
    # 9 November starts at midnight in Sydney (UTC+11): 13:00 UTC on the 8th.
    assert schedule["next_period"] == {
        "start_date": "2026-11-09",
        "end_date": "2026-11-22",
        "due_date": "2026-11-25",
        "opens_at": "2026-11-08T13:00:00Z",
    }
    assert (await api.client.get(url, headers=api.as_("admin"))).json() == schedule

    paused = await api.client.post(f"{url}/pause", headers=api.as_("admin"))
    assert paused.status_code == 200 and paused.json()["paused"] is True and paused.json()["next_period"] is None
    resumed = await api.client.post(f"{url}/resume", headers=api.as_("admin"))
    assert resumed.json()["paused"] is False and resumed.json()["next_period"]["start_date"] == "2026-11-09"

    # A schedule that cannot be: a 422 that says why, never a 500.
    for body, words in (
        ({"cadence": "monthly", "days_to_claim": 5}, "Enter the day of the month"),
        ({"cadence": "weekly", "every_weeks": 2, "days_to_claim": 5}, "Enter the day the first period starts"),
        ({"cadence": "monthly", "day_of_month": 31, "days_to_claim": 61}, "days_to_claim"),
        ({"cadence": "daily", "days_to_claim": 5}, "cadence"),
        ({"cadence": "monthly", "day_of_month": 1, "days_to_claim": 5, "extra": 1}, "extra"),
    ):
        wrong = await api.client.put(url, json=body, headers=api.as_("admin"))
        assert wrong.status_code == 422 and words in wrong.json()["detail"], wrong.text
    unknown = await api.client.put("/api/projects/P-NOPE/schedule", json=fortnightly, headers=api.as_("admin"))
    assert unknown.status_code == 404


async def test_a_period_opened_without_reminder_days_takes_the_project_s_and_its_own_override_them(api, infrastructure):
    url = f"/api/projects/{api.project}/reminders"
    assert (await api.client.get(url, headers=api.as_("admin"))).json() == {"reminder_days_before_due": None}
    assert (
        await api.client.put(url, json={"reminder_days_before_due": 4}, headers=api.as_("standard"))
    ).status_code == 403
    assert (
        await api.client.put(url, json={"reminder_days_before_due": 61}, headers=api.as_("admin"))
    ).status_code == 422
    saved = await api.client.put(url, json={"reminder_days_before_due": 4}, headers=api.as_("admin"))
    assert saved.json() == {"reminder_days_before_due": 4}
    october = await api.open({"start_date": "2026-10-01", "end_date": "2026-10-31", "due_date": "2026-11-05"})
    november = await api.open(NOVEMBER | {"reminder_days_before_due": 2})
    assert october.json()["reminder_days_before_due"] == 4
    assert november.json()["reminder_days_before_due"] == 2
    async with topic_reader(infrastructure.bootstrap_servers, BILLING_PERIODS) as reader:
        [opened] = await reader.wait_for(
            lambda r: period_events(reader, october.json()["id"])(r) and b".opened." in r.value
        )
    assert json.loads(opened.value)["data"]["reminder_days_before_due"] == 4
