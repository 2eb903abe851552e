"""Sessions over real HTTP between real services: made by the claims service alone, ended on every service by a
logout or a new password (SessionsEnded through the real broker), and keys rotated without logging anyone out."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from services.claims.app import definition as claims
from services.claims.domain.accounts import FAILURES_PER_ADDRESS, MAXIMUM_PASSWORD_LENGTH
from services.claims.use_cases import accounts
from services.periods.app import definition as periods
from shared import keys
from shared.contracts.accounts import SessionsEnded
from shared.erp import apply_commitment, apply_member_upserted
from shared.password_links import password_link_token
from shared.session_versions import end_sessions, session_version, sessions_ended
from shared.sessions import SECURE_SESSION_COOKIE, issue_session_token, read_session_token
from shared.settings import Settings
from tests.factories import commitment, erp_event, member
from tests.integration.test_itb_commands import JANE, add_user, itb, point_at
from tests.support import RunningService, csrf_of, running_service, service_settings

PASSWORD = "a long enough password"
ENDED = "This session has ended"


@dataclass
class Desk:
    """A claims and a periods service, and an administrator of a project of this test's own, known to both."""

    claims: RunningService
    periods: RunningService
    claims_pool: object
    project: str
    user_id: str
    email: str

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.claims.base_url)

    async def log_in(self, browser: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
        form = await browser.get("/login")
        return await browser.post(
            "/login", data={"email": self.email, "password": password, "csrf_token": csrf_of(form, "/login")}
        )

    async def bearer_token(self, password: str = PASSWORD) -> str:
        async with self.browser() as client:
            response = await client.post("/api/sessions", json={"email": self.email, "password": password})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    async def periods_answer(self, token: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.periods.base_url) as client:
            return await client.get(
                f"/api/projects/{self.project}/billing-periods", headers={"Authorization": f"Bearer {token}"}
            )

    async def wait_until_periods_refuses(self, token: str) -> httpx.Response:
        """The periods service's answer once SessionsEnded has reached it (it accepts the token until then)."""
        async with asyncio.timeout(20):
            while (answer := await self.periods_answer(token)).status_code == 200:
                await asyncio.sleep(0.1)
        return answer


@contextlib.asynccontextmanager
async def desk_for(infrastructure, database_for, **settings) -> AsyncIterator[Desk]:
    project = f"P-{uuid.uuid4().hex[:8]}"
    domain = f"{project.lower()}.example"
    admin = member(f"U-{project}", project_id=project, permission="admin", name="Alex Admin", email=f"alex@{domain}")
    claims_database, periods_database = await database_for("claims"), await database_for("periods")
    for database in (claims_database, periods_database):
        async with database.pool.acquire() as connection:
            await apply_commitment(connection, commitment(f"SC-{project}", project_id=project))
            await apply_member_upserted(connection, admin, erp_event(admin))
    async with claims_database.pool.acquire() as connection, connection.transaction():
        await accounts.set_password(connection, admin.user_id, PASSWORD, _now())
    claims_settings = service_settings(infrastructure, "claims", claims_database.url, **settings.get("claims", {}))
    periods_settings = service_settings(infrastructure, "periods", periods_database.url, **settings.get("periods", {}))
    async with (
        running_service(claims, claims_settings) as claims_service,
        running_service(periods, periods_settings) as periods_service,
    ):
        yield Desk(claims_service, periods_service, claims_database.pool, project, admin.user_id, admin.email)


@pytest.fixture
async def desk(infrastructure, database_for) -> AsyncIterator[Desk]:
    async with desk_for(infrastructure, database_for) as desk:
        yield desk


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_logout_ends_the_session_at_once_on_claims_and_on_periods_once_the_event_has_arrived(desk):
    async with desk.browser() as browser:
        assert (await desk.log_in(browser)).status_code == 303
        token = await desk.bearer_token()
        assert (await desk.periods_answer(token)).status_code == 200

        my_claims = await browser.get("/claims")
        logged_out = await browser.post("/logout", data={"csrf_token": csrf_of(my_claims, "/logout")})
        assert logged_out.status_code == 303

        async with desk.browser() as api:
            on_claims = await api.get(f"/api/claims/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
        assert on_claims.status_code == 401 and ENDED in on_claims.json()["detail"]
        on_periods = await desk.wait_until_periods_refuses(token)
        assert on_periods.status_code == 401 and ENDED in on_periods.json()["detail"]

    # Logging in again makes a session of the new version, which every service accepts.
    assert (await desk.periods_answer(await desk.bearer_token())).status_code == 200


async def test_the_old_cookie_of_a_logged_out_browser_sends_its_holder_to_log_in(desk):
    async with desk.browser() as browser, desk.browser() as stolen:
        assert (await desk.log_in(browser)).status_code == 303
        stolen.cookies.update(browser.cookies)
        assert (await stolen.get("/claims")).status_code == 200

        my_claims = await browser.get("/claims")
        await browser.post("/logout", data={"csrf_token": csrf_of(my_claims, "/logout")})

        again = await stolen.get("/claims")
        assert again.status_code == 303 and again.headers["location"].startswith("/login")


async def test_a_password_set_through_an_emailed_link_ends_every_earlier_session_and_starts_a_new_one(desk):
    old_token = await desk.bearer_token()
    await accounts.request_password_link(desk.claims_pool, desk.email, "127.0.0.1", _now())
    request_id = await desk.claims_pool.fetchval(
        "SELECT request_id::text FROM password_requests WHERE user_id = $1", desk.user_id
    )
    link = f"/password/{password_link_token(desk.claims.settings, request_id, desk.email)}"
    new_password = "a brand new long password"

    async with desk.browser() as browser:
        form = await browser.get(link)
        done = await browser.post(
            link, data={"password": new_password, "confirmation": new_password, "csrf_token": csrf_of(form)}
        )
        assert done.status_code == 303
        assert "My invites and claims" in (await browser.get(done.headers["location"])).text

    on_periods = await desk.wait_until_periods_refuses(old_token)
    assert on_periods.status_code == 401 and ENDED in on_periods.json()["detail"]
    assert (await desk.periods_answer(await desk.bearer_token(new_password))).status_code == 200


async def test_a_password_form_is_bound_to_the_browser_that_opened_it(desk):
    await accounts.request_password_link(desk.claims_pool, desk.email, "127.0.0.1", _now())
    request_id = await desk.claims_pool.fetchval(
        "SELECT request_id::text FROM password_requests WHERE user_id = $1", desk.user_id
    )
    link = f"/password/{password_link_token(desk.claims.settings, request_id, desk.email)}"
    new_password = "a brand new long password"
    answer = {"password": new_password, "confirmation": new_password}

    async with desk.browser() as other_site, desk.browser() as person:
        # A token fetched by another browser (another site's server, say) is refused in the person's browser.
        fetched_elsewhere = csrf_of(await other_site.get(link))
        own = csrf_of(await person.get(link))
        refused = await person.post(link, data=answer | {"csrf_token": fetched_elsewhere})
        assert refused.status_code == 403 and "did not come from this site" in refused.text

        # Nor is it accepted from a browser without the cookie the form was bound to.
        async with desk.browser() as cookieless:
            assert (await cookieless.post(link, data=answer | {"csrf_token": own})).status_code == 403

        assert (await person.post(link, data=answer | {"csrf_token": own})).status_code == 303


async def test_a_password_longer_than_the_maximum_is_refused_with_a_sentence_not_cut_short(desk):
    too_long = "x" * (MAXIMUM_PASSWORD_LENGTH + 1)
    async with desk.browser() as client:
        api = await client.post("/api/sessions", json={"email": desk.email, "password": too_long})
        page = await desk.log_in(client, password=too_long)
    assert api.status_code == 422 and f"at most {MAXIMUM_PASSWORD_LENGTH} characters" in api.json()["detail"]
    assert page.status_code == 422 and f"at most {MAXIMUM_PASSWORD_LENGTH} characters" in page.text


async def test_a_session_cookie_under_its_secure_name_is_read_too(desk):
    token = issue_session_token(desk.claims.settings, desk.user_id, desk.email)
    async with desk.browser() as browser:
        browser.cookies.set(SECURE_SESSION_COOKIE, token)
        page = await browser.get("/claims")
    assert page.status_code == 200 and f"Log out {desk.email}" in page.text


async def test_parallel_login_attempts_from_one_address_on_different_emails_stop_at_the_address_limit(
    infrastructure, database_for
):
    # A pool as large as the burst, so that every attempt runs at once: without the lock all would count 0.
    attempts = FAILURES_PER_ADDRESS + 10
    async with desk_for(infrastructure, database_for, claims={"database_pool_size": attempts}) as desk:
        domain = desk.email.split("@")[1]
        # Attempts from one address take their turn, each checking a password: the last waits for all the others.
        async with httpx.AsyncClient(base_url=desk.claims.base_url, timeout=120) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/api/sessions", json={"email": f"guess{number}@{domain}", "password": "a guess"})
                    for number in range(attempts)
                )
            )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * FAILURES_PER_ADDRESS + [429] * (attempts - FAILURES_PER_ADDRESS)


def _production_like_keys(pair: dict[str, str], previous: dict[str, str] | None = None) -> dict:
    """Claims holds the private key; periods only the public one (and the previous public one in a rotation)."""
    periods_keys = {"session_public_key": pair["SESSION_PUBLIC_KEY"]}
    if previous:
        periods_keys["session_public_key_previous"] = previous["SESSION_PUBLIC_KEY"]
    return {
        "claims": {
            "session_private_key": pair["SESSION_PRIVATE_KEY"],
            "session_public_key": pair["SESSION_PUBLIC_KEY"],
        },
        "periods": periods_keys,
    }


async def test_a_session_signed_by_anything_but_the_claims_key_is_refused_by_every_service(
    infrastructure, database_for
):
    pair = keys.new_production_keys()
    async with desk_for(infrastructure, database_for, **_production_like_keys(pair)) as desk:
        with pytest.raises(PermissionError, match="Only the claims service signs sessions"):
            issue_session_token(desk.periods.settings, desk.user_id, desk.email)
        secret = desk.periods.settings.secret_key
        another_key = Settings(session_private_key=keys.new_production_keys()["SESSION_PRIVATE_KEY"])
        forged = {
            "another Ed25519 key": issue_session_token(another_key, desk.user_id, desk.email),
            "the development key of the shared secret": issue_session_token(
                Settings(secret_key=secret), desk.user_id, desk.email
            ),
            "the shared secret, as sessions once were": URLSafeTimedSerializer(secret, salt="itb.session.v1").dumps(
                {"sub": desk.user_id, "email": desk.email}
            ),
        }
        for signed_with, token in forged.items():
            assert (await desk.periods_answer(token)).status_code == 401, signed_with
            async with desk.browser() as api:
                on_claims = await api.get(f"/api/claims/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})
            assert on_claims.status_code == 401, signed_with

        assert (await desk.periods_answer(await desk.bearer_token())).status_code == 200


async def test_sessions_signed_with_the_previous_key_are_accepted_during_a_rotation_and_refused_after_it(
    infrastructure, database_for
):
    old, new = keys.new_production_keys(), keys.new_production_keys()
    signed_with_old_key = Settings(session_private_key=old["SESSION_PRIVATE_KEY"])

    async with desk_for(infrastructure, database_for, **_production_like_keys(new, previous=old)) as rotating:
        made_before = issue_session_token(signed_with_old_key, rotating.user_id, rotating.email)
        assert (await rotating.periods_answer(made_before)).status_code == 200
        assert (await rotating.periods_answer(await rotating.bearer_token())).status_code == 200

    async with desk_for(infrastructure, database_for, **_production_like_keys(new)) as rotated:
        made_before = issue_session_token(signed_with_old_key, rotated.user_id, rotated.email)
        assert (await rotated.periods_answer(made_before)).status_code == 401


async def test_itb_token_after_a_logout_makes_a_session_of_the_accounts_new_version(
    database_for, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("ITB_STATE_DIR", str(tmp_path))  # no running stack: its database and secret are the test's
    monkeypatch.delenv("SECRET_KEY", raising=False)
    database = await database_for("periods")
    await add_user(database.pool, *JANE)
    async with database.pool.acquire() as connection:
        await end_sessions(connection, JANE[0], _now())  # as SessionsEnded from the claims service would
    point_at(monkeypatch, database.url)
    (tmp_path / "secret_key").write_text("the stack's secret\n")

    assert await itb(monkeypatch, "token", JANE[2]) == 0

    session = read_session_token(Settings(secret_key="the stack's secret"), capsys.readouterr().out.strip())
    assert (session.user_id, session.session_version) == (JANE[0], 1)


async def test_a_redelivered_or_older_sessions_ended_never_lowers_the_version_a_service_knows(database_for):
    database = await database_for("periods")
    user_id = f"U-{uuid.uuid4().hex[:8]}"
    event = erp_event(member(user_id))  # any envelope: the handler reads the contract

    def ended(version: int) -> SessionsEnded:
        return SessionsEnded(user_id=user_id, session_version=version, ended_at=_now(), reason="logged_out")

    async with database.pool.acquire() as connection:
        for version in (2, 1, 2, 3, 1):
            await sessions_ended(connection, event, ended(version))
        assert await session_version(connection, user_id) == 3
        assert await session_version(connection, "U-nobody-ended") == 0
