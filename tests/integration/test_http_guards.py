"""What every service puts in front of its routes (shared/http_guards.py), over real HTTP: request bodies are
bounded, however they are sent, and every response carries the security headers."""

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from services.claims.app import definition as claims
from services.periods.app import definition as periods
from services.responses.app import definition as responses
from shared.http_guards import TOO_LARGE_HEADING
from shared.logs import JsonFormatter
from shared.service import create_app
from shared.settings import Settings
from tests.support import REPO, csrf_of, running_service, service_settings

LIMIT = 64 * 1024


@pytest.fixture
async def claims_service(infrastructure, database_for):
    database = await database_for("claims")
    async with running_service(claims, service_settings(infrastructure, "claims", database.url)) as service:
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            yield client


async def chunks_of(total: int, size: int = 8 * 1024):
    """A body sent in chunks, as a client without a Content-Length sends it."""
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


# --- Request bodies ---


async def test_a_json_body_over_the_limit_is_refused_with_413_and_a_sentence(claims_service):
    body = {"email": "jane@guards.example", "password": "x" * LIMIT}
    response = await claims_service.post("/api/sessions", json=body)
    assert response.status_code == 413
    assert "larger than the 64 KiB this service accepts" in response.json()["detail"]


async def test_a_form_over_the_limit_gets_the_message_page(claims_service):
    response = await claims_service.post(
        "/login", data={"email": "jane@guards.example", "password": "x" * LIMIT}, headers={"Accept": "text/html"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert TOO_LARGE_HEADING in response.text and "Nothing was done" in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_a_body_sent_in_chunks_without_a_length_is_bounded_too(claims_service):
    request = claims_service.build_request(
        "POST", "/api/sessions", content=chunks_of(LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
    response = await claims_service.send(request)
    assert response.status_code == 413 and "64 KiB" in response.json()["detail"]


async def test_a_body_within_the_limit_reaches_the_route_whole_however_it_is_sent(claims_service):
    body = json.dumps({"email": "nobody@guards.example", "password": "p" * (LIMIT - 100)}).encode()
    assert len(body) <= LIMIT

    async def in_chunks():
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    whole = await claims_service.post("/api/sessions", content=body, headers={"Content-Type": "application/json"})
    chunked = await claims_service.post(
        "/api/sessions", content=in_chunks(), headers={"Content-Type": "application/json"}
    )
    # The route read the JSON and refused the login (an unknown email), rather than the guard the body.
    assert whole.status_code == chunked.status_code
    assert whole.status_code in (401, 422) and "KiB" not in whole.text


# --- Security headers ---


async def test_every_response_carries_the_security_headers(claims_service):
    for method, path in (
        ("GET", "/healthz"),
        ("GET", "/login"),
        ("GET", "/claims/new"),  # a redirect to the login page
        ("GET", "/api/claims/not-a-claim"),  # 401
        ("GET", "/no/such/page"),  # 404
        ("POST", "/api/sessions"),  # 422
        ("GET", "/static/pages.css"),
    ):
        response = await claims_service.request(method, path)
        policy = response.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ):
            assert directive in policy, (method, path)
        assert "unsafe-inline" not in policy, (method, path)
        assert response.headers["x-content-type-options"] == "nosniff", (method, path)
        assert response.headers["referrer-policy"] == "no-referrer", (method, path)
        assert "strict-transport-security" not in response.headers, (method, path)  # reached over http


async def test_each_request_is_logged_as_a_json_line_without_the_token_of_an_emailed_link(claims_service, caplog):
    caplog.set_level(logging.INFO, logger="access")
    token = "eyJ0eXAiOiJKV1Qi.secret-part.signature"
    link_page = await claims_service.get(f"/password/{token}")  # a link not ours: its page says so
    await claims_service.post("/api/sessions", content=b"x" * (LIMIT + 1), headers={"Content-Type": "application/json"})
    await claims_service.get("/readyz")  # a probe: not at INFO

    logged = [record for record in caplog.records if record.name == "access"]
    assert [(record.method, record.path, record.status) for record in logged] == [
        ("GET", "/password/[token]", link_page.status_code),
        ("POST", "/api/sessions", 413),  # a refusal before any route is logged too
    ]
    line = json.loads(JsonFormatter("claims").format(logged[0]))
    assert line["message"] == "request" and line["duration_ms"] >= 0 and line["logger"] == "access"
    assert token not in caplog.text


async def test_the_stylesheet_is_served_as_css(claims_service):
    response = await claims_service.get("/static/pages.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert "table.sov" in response.text


async def test_the_api_docs_alone_may_load_their_cdn_and_are_never_framed(claims_service):
    docs = await claims_service.get("/docs")
    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in (await claims_service.get("/login")).headers["content-security-policy"]


# --- Policies that follow the settings (no database needed: the headers come before any route) ---


async def test_the_asyncapi_page_may_load_its_component_from_the_docs_cdn_and_its_json_is_the_kept_document(
    claims_service,
):
    page = await claims_service.get("/asyncapi")
    assert page.status_code == 200 and "cdn.jsdelivr.net/npm/@asyncapi/react-component" in page.text
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in page.headers["content-security-policy"]
    document = (await claims_service.get("/asyncapi.json")).json()
    assert document == json.loads((REPO / "docs" / "asyncapi" / "claims.json").read_text())


async def test_hsts_is_sent_when_the_services_public_url_is_https():
    over_https = create_app(periods, Settings(service_name="periods", periods_public_url="https://periods.example"))
    over_http = create_app(periods, Settings(service_name="periods", periods_public_url="http://periods.example"))
    for app, expected in ((over_https, True), (over_http, False)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await client.get("/healthz")
        assert ("strict-transport-security" in response.headers) is expected
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=over_https), base_url="http://test") as client:
        assert "max-age=" in (await client.get("/healthz")).headers["strict-transport-security"]


async def test_the_invite_page_may_post_an_answer_that_leads_on_to_the_claims_service():
    """Yes is answered by a redirect to the claims service's page: a browser checks form-action on it too."""
    settings = Settings(service_name="responses", claims_public_url="https://claims.example/")
    app = create_app(responses, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        policy = (await client.get("/healthz")).headers["content-security-policy"]
    form_action = next(part for part in policy.split("; ") if part.startswith("form-action"))
    assert "'self'" in form_action and "https://claims.example" in form_action.split()


# --- The database away ---


class CuttableLink:
    """A TCP link to PostgreSQL that the test can cut (open connections dropped, new ones refused) and restore,
    as a database restart or a network fault does."""

    def __init__(self, target_port: int):
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _forward(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers |= {client_writer, server_writer}
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    async def _pipe(self, reader, writer) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
        self._writers.discard(writer)


async def test_a_request_while_the_database_is_away_gets_503_saying_to_try_again_and_works_once_it_is_back(
    infrastructure, database_for
):
    database = await database_for("claims")
    url = urlsplit(database.url)
    link = CuttableLink(url.port)
    await link.restore()
    linked_url = urlunsplit(url._replace(netloc=f"{url.username}@127.0.0.1:{link.port}"))
    settings = service_settings(infrastructure, "claims", linked_url)
    login = {"email": "nobody@database-away.example", "password": "a password"}
    async with running_service(claims, settings) as service:
        async with httpx.AsyncClient(base_url=service.base_url) as client:
            assert (await client.post("/api/sessions", json=login)).status_code == 401
            form = login | {"csrf_token": csrf_of(await client.get("/login"))}
            await link.cut()
            away = await client.post("/api/sessions", json=login)
            page = await client.post("/login", data=form, headers={"Accept": "text/html"})
            await link.restore()
            async with asyncio.timeout(30):  # the pool makes new connections as they are asked for
                while (back := await client.post("/api/sessions", json=login)).status_code == 503:
                    await asyncio.sleep(0.1)
    assert away.status_code == 503 and away.headers["retry-after"] == "30"
    assert away.json()["detail"].startswith("The service cannot reach its database just now, so nothing was changed")
    assert page.status_code == 503 and "Try again in a minute" in page.text
    assert back.status_code == 401
