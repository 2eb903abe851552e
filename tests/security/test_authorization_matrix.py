"""Who may do what (rule 19, DESIGN section 5), as one table: every endpoint and page of every service, asked
by each person, with the status each must get; and no answer names the contact to anyone but the contact and
the project's administrator (a contact sees only their own commitments' invites and claims). The table is
checked against the apps' routes, so an endpoint added without a row here fails this test.

The people (tests/security/system.py): nobody logged in; a contact of another commitment of the project; a
read-only member of the project who is no contact; the administrator of another project; the contact of the
commitment; the project's administrator. Links reached by a signed token (the invite page, the password
link) are held by the contact, to whom they were emailed; everyone else tries a copy with one character
changed. Forms are posted as a browser would: with the CSRF token of the page that shows the form, when that
page shows it to the person.

Rows run in the table's order, each person in the columns' order: the rows that end something (closing the
period, opening the next one, logging out) come last.
"""

import contextlib
from dataclasses import dataclass, field

import fastapi.routing

from shared.service import create_app
from shared.settings import Settings
from tests.security.system import SERVICES
from tests.support import csrf_of

ROLES = ("anonymous", "other_contact", "read_only", "other_admin", "contact", "admin")
EVERYONE_OK = (200,) * len(ROLES)
DECEMBER = {"start_date": "2026-12-01", "end_date": "2026-12-31", "due_date": "2027-01-05"}
WRONG_PASSWORD = "not the password at all"
# Set at the system's clock (2 November): its next period starts on 1 December, after the tests' end.
MONTHLY_SCHEDULE = {"cadence": "monthly", "day_of_month": 1, "days_to_claim": 5}


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    # anonymous, contact of another commitment, read-only member, administrator of another project,
    # the contact, the project's administrator
    expected: tuple[int, ...]
    query: str = ""
    link: str = ""  # which emailed link's token fills {token}: "invite" or "password"
    json: dict | None = None
    form: dict = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # {name} filled from another value than its own
    form_page: str | None = None  # the page whose form is posted (its CSRF token goes with the form)


def public(service: str, *paths: str) -> list[Row]:
    return [Row(service, "GET", path, EVERYONE_OK) for path in paths]


DOCS_AND_HEALTH = (
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/asyncapi",
    "/asyncapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
)

MATRIX: list[Row] = [
    # --- periods: the administrators' API ---
    *public("periods", *DOCS_AND_HEALTH),
    Row("periods", "GET", "/api/projects/{project_id}/billing-periods", (401, 403, 403, 403, 403, 200)),
    Row("periods", "GET", "/api/billing-periods/{period_id}", (401, 403, 403, 403, 403, 200)),
    Row(
        "periods",
        "PATCH",
        "/api/billing-periods/{period_id}",
        (401, 403, 403, 403, 403, 200),
        json={"due_date": "2026-12-05"},
    ),
    Row(
        "periods",
        "POST",
        "/api/billing-periods/{period_id}/invites/resend",
        (401, 403, 403, 403, 403, 202),
        json={"commitment_ids": ["{commitment_id}"]},
    ),
    # The project's schedule and reminder days: set first, so that reading, pausing and resuming find them.
    Row(
        "periods",
        "PUT",
        "/api/projects/{project_id}/schedule",
        (401, 403, 403, 403, 403, 200),
        json=MONTHLY_SCHEDULE,
    ),
    Row("periods", "GET", "/api/projects/{project_id}/schedule", (401, 403, 403, 403, 403, 200)),
    Row("periods", "POST", "/api/projects/{project_id}/schedule/pause", (401, 403, 403, 403, 403, 200)),
    Row("periods", "POST", "/api/projects/{project_id}/schedule/resume", (401, 403, 403, 403, 403, 200)),
    Row(
        "periods",
        "PUT",
        "/api/projects/{project_id}/reminders",
        (401, 403, 403, 403, 403, 200),
        json={"reminder_days_before_due": 3},
    ),
    Row("periods", "GET", "/api/projects/{project_id}/reminders", (401, 403, 403, 403, 403, 200)),
    # --- periods: the administrator's pages (a page without a session leads to the login page) ---
    Row("periods", "GET", "/", (303, 403, 403, 200, 403, 200)),  # the other project's administrator sees theirs
    Row("periods", "GET", "/projects/{project_id}", (303, 403, 403, 403, 403, 200)),
    Row(
        "periods",
        "POST",
        "/projects/{project_id}/billing-periods",
        (303, 403, 403, 403, 403, 200),  # a due date already passed: the administrator is asked to confirm first
        form={"start_date": "2026-10-01", "end_date": "2026-10-31", "due_date": "2026-11-01"},
        form_page="/projects/{project_id}",
    ),
    Row(
        "periods",
        "POST",
        "/projects/{project_id}/schedule",
        (303, 403, 403, 403, 403, 303),
        form={"cadence": "monthly", "day_of_month": "1", "days_to_claim": "5"},
        form_page="/projects/{project_id}",
    ),
    Row(
        "periods",
        "POST",
        "/projects/{project_id}/schedule/pause",
        (303, 403, 403, 403, 403, 303),
        form_page="/projects/{project_id}",
    ),
    Row(
        "periods",
        "POST",
        "/projects/{project_id}/schedule/resume",
        (303, 403, 403, 403, 403, 303),
        form_page="/projects/{project_id}",
    ),
    Row(
        "periods",
        "POST",
        "/projects/{project_id}/reminders",
        (303, 403, 403, 403, 403, 303),
        form={"project_reminder_days": "3"},
        form_page="/projects/{project_id}",
    ),
    Row("periods", "GET", "/billing-periods/{period_id}", (303, 403, 403, 403, 403, 200)),
    Row("periods", "GET", "/billing-periods/{period_id}/board/version", (401, 403, 403, 403, 403, 200)),
    Row("periods", "GET", "/billing-periods/{period_id}/board.csv", (303, 403, 403, 403, 403, 200)),
    Row(
        "periods",
        "POST",
        "/billing-periods/{period_id}/due-date",
        (303, 403, 403, 403, 403, 303),
        form={"due_date": "2026-12-05"},
        form_page="/billing-periods/{period_id}",
    ),
    Row(
        "periods",
        "POST",
        "/billing-periods/{period_id}/resend",
        (303, 403, 403, 403, 403, 303),
        form={"commitment_id": "{commitment_id}"},
        form_page="/billing-periods/{period_id}",
    ),
    Row(
        "periods",
        "POST",
        "/billing-periods/{period_id}/close",
        (303, 403, 403, 403, 403, 200),  # the administrator is asked to confirm first
        form_page="/billing-periods/{period_id}",
    ),
    # --- responses: the invite page, reached by the emailed link ---
    *public("responses", *DOCS_AND_HEALTH),
    Row("responses", "GET", "/invites/{token}", (400, 400, 400, 400, 200, 400), link="invite"),
    Row(
        "responses",
        "POST",
        "/invites/{token}",
        (400, 400, 400, 400, 303, 400),
        link="invite",
        form={"answer": "yes"},
        form_page="/invites/{token}",
    ),
    # --- claims: logging in, password links, the claim pages and the claims API ---
    *public("claims", *DOCS_AND_HEALTH, "/login", "/password/new"),
    Row(
        "claims",
        "POST",
        "/login",
        (401, 401, 401, 401, 401, 401),
        form={"email": "{email}", "password": WRONG_PASSWORD},
        form_page="/login",
    ),
    Row(
        "claims",
        "POST",
        "/password/new",
        EVERYONE_OK,  # the same answer whoever asks: the page does not tell who has an account
        form={"email": "{email}"},
        form_page="/password/new",
    ),
    Row("claims", "GET", "/password/{token}", (400, 400, 400, 400, 200, 400), link="password"),
    Row(
        "claims",
        "POST",
        "/password/{token}",
        (400, 400, 400, 400, 422, 400),  # the contact reaches the form's checks: the two passwords differ
        link="password",
        form={"password": "a long new password", "confirmation": "another long password"},
        form_page="/password/{token}",
    ),
    Row("claims", "GET", "/claims", (303, 200, 200, 200, 200, 200)),
    Row(
        "claims",
        "GET",
        "/claims/new",
        (303, 403, 403, 403, 303, 303),  # the claim exists: the contact and the administrator are led to it
        query="?commitment={commitment_id}&period={period_id}",
    ),
    Row(
        "claims",
        "POST",
        "/claims/new",
        # The contact's claim exists already, so the page shows no form to take a token from: without the page's
        # token the button's post is refused, whoever sends it.
        (303, 403, 403, 403, 403, 403),
        form={"commitment": "{commitment_id}", "period": "{period_id}"},
        form_page="/claims/new?commitment={commitment_id}&period={period_id}",
    ),
    Row(
        "claims",
        "GET",
        "/claims/on-behalf",
        (303, 403, 403, 403, 403, 200),  # the other commitment has no claim yet: the administrator gets the page
        query="?period={period_id}&commitment={other_commitment_id}&contact={other_contact_user_id}",
    ),
    Row(
        "claims",
        "POST",
        "/claims/on-behalf",
        # The contact's commitment has its claim already, so the page redirects to it and shows no form to take a
        # token from: without the page's token the button's post is refused, whoever sends it.
        (303, 403, 403, 403, 403, 403),
        form={"period": "{period_id}", "commitment": "{commitment_id}", "contact": "{contact_user_id}"},
        form_page="/claims/on-behalf?period={period_id}&commitment={commitment_id}&contact={contact_user_id}",
    ),
    Row("claims", "GET", "/claims/{claim_id}", (303, 403, 403, 403, 200, 200)),
    Row(
        "claims",
        "POST",
        "/claims/{claim_id}",
        (303, 403, 403, 403, 303, 303),
        form={"action": "save"},
        form_page="/claims/{claim_id}",
    ),
    Row("claims", "GET", "/billing-periods/{period_id}/review", (303, 403, 403, 403, 403, 200)),
    # Review (rule 18): the contact's claim is a draft, so its page shows nobody the review forms: without a
    # token of theirs the posts are refused, whoever sends them (tests/integration/test_claim_review.py posts
    # them from a submitted claim's page).
    Row(
        "claims",
        "POST",
        "/claims/{claim_id}/approval",
        (303, 403, 403, 403, 403, 403),
        form_page="/claims/{claim_id}",
    ),
    Row(
        "claims",
        "POST",
        "/claims/{claim_id}/revision-request",
        (303, 403, 403, 403, 403, 403),
        form={"reason": "The footings are not finished."},
        form_page="/claims/{claim_id}",
    ),
    # Asking to claim late (rule 18b): the contact's claim exists, so the New Progress Claim page redirects to it and
    # shows no form to take a token from: the post is refused, whoever sends it.
    Row(
        "claims",
        "POST",
        "/claims/late-requests",
        (303, 403, 403, 403, 403, 403),
        form={"commitment": "{commitment_id}", "period": "{period_id}", "message": "I was away."},
        form_page="/claims/new?commitment={commitment_id}&period={period_id}",
    ),
    # The other contact's request, waiting for its answer: the API and the page are the project's administrators';
    # the administrator reaches the checks of the answer (a reason, a day not past), which leave it waiting.
    Row(
        "claims",
        "POST",
        "/api/late-claim-requests/{request_id}/refuse",
        (401, 403, 403, 403, 403, 422),
        json={"reason": " "},
        values={"request_id": "late_request_id"},
    ),
    Row(
        "claims",
        "POST",
        "/api/late-claim-requests/{request_id}/allow",
        (401, 403, 403, 403, 403, 422),
        json={"allowed_until": "2020-01-01"},
        values={"request_id": "late_request_id"},
    ),
    Row(
        "claims",
        "GET",
        "/late-claim-requests/{request_id}",
        (303, 403, 403, 403, 403, 200),
        values={"request_id": "late_request_id"},
    ),
    Row(
        "claims",
        "POST",
        "/late-claim-requests/{request_id}/refuse",
        (303, 403, 403, 403, 403, 422),  # the administrator reaches the check that a refusal says why
        form={"reason": " "},
        form_page="/late-claim-requests/{request_id}",
        values={"request_id": "late_request_id"},
    ),
    Row(
        "claims",
        "POST",
        "/late-claim-requests/{request_id}/allow",
        (303, 403, 403, 403, 403, 303),
        form={"allowed_until": ""},
        form_page="/late-claim-requests/{request_id}",
        values={"request_id": "late_request_id"},
    ),
    Row(
        "claims",
        "POST",
        "/api/sessions",
        (401, 401, 401, 401, 401, 401),
        json={"email": "{email}", "password": WRONG_PASSWORD},
    ),
    Row("claims", "GET", "/api/billing-periods/{period_id}/claims", (401, 403, 403, 403, 403, 200)),
    Row(
        "claims",
        "POST",
        "/api/billing-periods/{period_id}/commitments/{commitment_id}/claims",
        (401, 403, 403, 403, 403, 201),
        json={"contact_user_id": "{contact_user_id}"},
        # The other commitment: the contact's already has its claim (one per commitment and period, rule 14).
        values={"commitment_id": "other_commitment_id", "contact_user_id": "other_contact_user_id"},
    ),
    Row("claims", "GET", "/api/claims/{claim_id}", (401, 403, 403, 403, 200, 200)),
    # Rule 18c: the system's project has no region, so its administrator is told there is no clock to shorten
    # (tests/integration/test_payment_schedule_clock.py sets one on a project in AU-NSW).
    Row(
        "claims",
        "PUT",
        "/api/projects/{project_id}/payment-schedule-days",
        (401, 403, 403, 403, 403, 422),
        json={"days": 5},
    ),
    # The API reaches the administrator's check that only a claim under review is reviewed: the draft stays one.
    Row("claims", "POST", "/api/claims/{claim_id}/approval", (401, 403, 403, 403, 403, 409)),
    Row(
        "claims",
        "POST",
        "/api/claims/{claim_id}/revision-request",
        (401, 403, 403, 403, 403, 409),
        json={"reason": "The footings are not finished."},
    ),
    # --- notifier: health only ---
    *public("notifier", *DOCS_AND_HEALTH),
    # --- last: what ends the period or the session ---
    Row(
        "periods",
        "POST",
        "/api/billing-periods/{period_id}/close",
        (401, 403, 403, 403, 403, 200),
    ),
    Row(
        "periods",
        "POST",
        "/api/projects/{project_id}/billing-periods",
        (401, 403, 403, 403, 403, 201),
        json=DECEMBER,
    ),
    Row("claims", "POST", "/logout", (303, 303, 303, 303, 303, 303), form_page="/claims"),
]


def routes_of(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, HEAD aside (it follows GET). FastAPI 0.16x keeps included
    routers as they are and lists their routes through `iter_route_contexts`; earlier versions copy them."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", lambda routes: routes)(app.routes)
    return {(method, route.path) for route in contexts for method in route.methods or () if method != "HEAD"}


def test_every_route_of_every_service_has_one_row_in_the_matrix():
    in_matrix = [(row.service, row.method, row.path) for row in MATRIX]
    assert len(in_matrix) == len(set(in_matrix)), "a route has two rows"
    served = {
        (service, method, path)
        for service, definition in SERVICES.items()
        for method, path in routes_of(create_app(definition, Settings(service_name=service)))
    }
    assert sorted(served - set(in_matrix)) == [], "routes without a row in the matrix"
    assert sorted(set(in_matrix) - served) == [], "rows for routes no service has"


async def test_each_person_gets_the_expected_status_from_every_endpoint_and_page(system):
    contact = system.people["contact"].name
    async with contextlib.AsyncExitStack() as stack:
        # A browser of each person for each service, kept from row to row as a person's browser is.
        browsers = {
            (service, role): await stack.enter_async_context(system.browser(service, role))
            for service in SERVICES
            for role in ROLES
        }
        wrong = []
        for row in MATRIX:
            for role, expected in zip(ROLES, row.expected, strict=True):
                status, text = await _send(browsers[row.service, role], row, _values(system, row, role))
                route = f"{row.service} {row.method} {row.path} as {role}"
                if status != expected:
                    wrong.append(f"{route}: expected {expected}, got {status}: {text[:160]!r}")
                if contact in text and role not in ("contact", "admin"):
                    wrong.append(f"{route}: the answer names the contact, {contact}, to someone else")
    assert wrong == [], "\n".join(wrong)


def _values(system, row: Row, role: str) -> dict[str, str]:
    """What fills the row's {names} when `role` sends it."""
    values = {
        "project_id": system.project,
        "period_id": system.period_id,
        "commitment_id": system.commitment_id,
        "claim_id": system.claim_id,
        "late_request_id": system.late_request_id,
        "contact_user_id": system.people["contact"].user_id,
        "other_commitment_id": system.other_commitment_id,
        "other_contact_user_id": system.people["other_contact"].user_id,
        "email": system.people[role].email or f"nobody@{system.domain}",
        "token": _links_held_by(system, role).get(row.link, ""),
    }
    return values | {name: values[source] for name, source in row.values.items()}


async def _send(browser, row: Row, values: dict) -> tuple[int, str]:
    path = row.path.format(**values) + row.query.format(**values)
    form = _filled(row.form, values)
    if row.form_page is not None:
        page = await browser.get(row.form_page.format(**values))
        if 'name="csrf_token"' in page.text:
            action = path if f'action="{path}"' in page.text else None
            form["csrf_token"] = csrf_of(page, action)
    json = _filled(row.json, values) if row.json is not None else None
    response = await browser.request(row.method, path, json=json, data=form or None)
    return response.status_code, response.text


def _filled(body, values: dict):
    if isinstance(body, dict):
        return {name: _filled(value, values) for name, value in body.items()}
    if isinstance(body, list):
        return [_filled(value, values) for value in body]
    return body.format(**values) if isinstance(body, str) else body


def _links_held_by(system, role: str) -> dict[str, str]:
    """The tokens of the links emailed to the contact: theirs as sent, anyone else's a tampered copy."""
    sent = {"invite": system.invite_tokens["contact"], "password": system.password_token}
    return sent if role == "contact" else {name: _altered(token) for name, token in sent.items()}


def _altered(token: str) -> str:
    """The token with one character changed, as a link copied wrong or tampered with."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
