"""The emails about a request to claim late (rule 18b): to the administrator asked, with the link to answer it;
to the contact, allowed until a day with the link to New Progress Claim, or refused with the reason as text."""

import uuid
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from services.notifier.domain import LateClaimMail, late_claim_kind, late_claim_message_id
from services.notifier.mail.late_claims import build_late_claim_message
from shared.contracts.claims import ClaimWindowExtended, LateClaimRequested, LateClaimRequestRefused
from shared.settings import Settings

SETTINGS = Settings(secret_key="test-secret", claims_public_url="https://claims.example/base/")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
ALEX = {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"}
REQUEST = {
    "request_id": "8a1c1d6e-0000-4000-8000-00000000000a",
    "period_id": "8a1c1d6e-0000-4000-8000-000000000002",
    "project_id": "P-100",
    "commitment_id": "SC-0042",
    "contact": {"user_id": "U-9", "name": "Jane Citizen", "email": "jane@concreteco.example"},
}
AT = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)  # 13:30 in Sydney


def built(step, project_name: str | None = "Harbour <Tower>", timezone: str | None = "Australia/Sydney"):
    kind = late_claim_kind(step)
    row = LateClaimMail(
        key=f"{step.request_id}.{kind}",
        kind=kind,
        message_id=late_claim_message_id(step.request_id, kind),
        attempts=0,
        lease=uuid.uuid4(),
        step=step,
        project_name=project_name,
        commitment="SC-0042 Formwork" if project_name else None,
        project_timezone=timezone,
    )
    message = build_late_claim_message(row, SETTINGS, NOW)
    return message_from_bytes(message.as_bytes(), policy=policy.default)  # as a mail app reads it


def bodies(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_a_request_goes_to_the_administrator_asked_with_the_contacts_message_and_the_link_to_answer_it():
    step = LateClaimRequested(**REQUEST, asked=ALEX, message="I was <b>on site</b>.", requested_at=AT)
    message = built(step)
    assert message["To"] == "Alex Admin <alex@acme.example>"
    assert message["Reply-To"] == "Jane Citizen <jane@concreteco.example>"
    assert message["Subject"] == "Harbour <Tower>: Jane Citizen asks to claim late for SC-0042 Formwork"
    assert message["Message-ID"] == f"<{REQUEST['request_id']}.requested@invite-to-bill>"
    text, html = bodies(message)
    link = f"https://claims.example/base/late-claim-requests/{REQUEST['request_id']}"
    assert f"Allow it until a day, or refuse it with a reason: {link}" in text and f'href="{link}"' in html
    assert "I was <b>on site</b>." in text and "at 13:30 on 7 December 2026 (Australia/Sydney time)" in text
    assert "I was &lt;b&gt;on site&lt;/b&gt;." in html and "<b>on site" not in html
    assert "Harbour &lt;Tower&gt;" in html


def test_an_allowed_request_tells_the_contact_the_day_and_links_to_new_progress_claim():
    step = ClaimWindowExtended(**REQUEST, allowed_until=date(2026, 12, 10), allowed_by=ALEX, allowed_at=AT)
    message = built(step)
    assert message["To"] == "Jane Citizen <jane@concreteco.example>"
    assert message["Subject"] == "Harbour <Tower>: you may claim late for SC-0042 Formwork until 10 December 2026"
    assert message["Message-ID"] == f"<{REQUEST['request_id']}.allowed@invite-to-bill>"
    text, _ = bodies(message)
    assert "until the end of 10 December 2026 (Australia/Sydney time)" in text
    link = f"https://claims.example/base/claims/new?commitment=SC-0042&period={REQUEST['period_id']}"
    assert f"New Progress Claim: {link}" in text


def test_a_refusal_tells_the_contact_why_as_text_and_names_ids_while_the_project_is_not_known():
    step = LateClaimRequestRefused(**REQUEST, reason="The <i>period</i> is closing.", refused_by=ALEX, refused_at=AT)
    message = built(step, project_name=None, timezone=None)
    assert message["Subject"] == "P-100: your request to claim late for SC-0042 is refused"
    assert message["Reply-To"] == "Alex Admin <alex@acme.example>"
    text, html = bodies(message)
    assert "Why:\nThe <i>period</i> is closing." in text
    assert "The &lt;i&gt;period&lt;/i&gt; is closing." in html and "<i>period" not in html
