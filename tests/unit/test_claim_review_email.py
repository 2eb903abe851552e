"""The email telling a contact their claim was approved or sent back (rule 18): subject, times, notes by line,
and a reviewer's text kept as text."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from email import message_from_bytes, policy

from services.notifier.domain import ClaimReviewMail, claim_review_message_id
from services.notifier.mail.emails import build_claim_review_message
from shared.contracts.claims import ClaimTotals, ProgressClaimApproved, ProgressClaimRevisionRequested
from shared.settings import Settings

SETTINGS = Settings(secret_key="test-secret", claims_public_url="https://claims.example/base/")
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
REVIEW = {
    "claim_id": "claim-1",
    "period_id": "8a1c1d6e-0000-4000-8000-000000000002",
    "project_id": "P-100",
    "project_name": "Harbour Tower",
    "commitment_id": "SC-0042",
    "commitment_number": "SC-0042",
    "commitment_title": "Formwork and concrete",
    "contact": {"user_id": "U-9", "name": "Jane Citizen", "email": "jane@concreteco.example"},
    "reviewed_by": {"id": "U-1", "name": "Alex Admin", "email": "alex@acme.example"},
    "reviewed_at": datetime(2026, 12, 7, 2, 30, tzinfo=UTC),
    "revision": 2,
}


def sent_back(**changes) -> ProgressClaimRevisionRequested:
    return ProgressClaimRevisionRequested(
        **REVIEW | {"reason": "Line 1 is over 100%", "line_notes": {}, "resubmit_by": date(2026, 12, 10)} | changes
    )


def mail(review, line_names=None, timezone: str | None = "Australia/Sydney") -> ClaimReviewMail:
    kind = "claim_approved" if isinstance(review, ProgressClaimApproved) else "claim_revision_requested"
    return ClaimReviewMail(
        key=f"{review.claim_id}.{kind}.{review.revision}",
        kind=kind,
        message_id=claim_review_message_id(review.claim_id, kind, review.revision),
        attempts=0,
        lease=uuid.uuid4(),
        review=review,
        line_names=line_names or {},
        project_timezone=timezone,
    )


def built(row: ClaimReviewMail):
    message = build_claim_review_message(
        row.review, row.line_notes(), row.project_timezone, row.message_id, SETTINGS, NOW
    )
    # As a mail app reads it: through the bytes.
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_an_approval_names_the_project_and_commitment_the_payment_due_and_links_to_the_claim():
    totals = ClaimTotals(
        currency="AUD",
        total_completed_and_stored=Decimal("1"),
        retention=Decimal("0"),
        total_earned_less_retention=Decimal("1"),
        less_previous_claims=Decimal("0"),
        current_payment_due=Decimal("12345.6"),
    )
    message = built(mail(ProgressClaimApproved(**REVIEW, totals=totals)))
    assert message["Subject"] == "Harbour Tower: SC-0042 progress claim approved"
    assert message["Message-ID"] == "<claim-1.approved.2@invite-to-bill>"
    assert message["Reply-To"] == "Alex Admin <alex@acme.example>"
    text = message.get_body(("plain",)).get_content()
    assert "Alex Admin approved your progress claim (revision 2) for SC-0042 Formwork and concrete" in text
    assert "at 13:30 on 7 December 2026 (Australia/Sydney time)" in text
    assert "Current payment due: AUD 12,345.60" in text
    assert "Open the claim: https://claims.example/base/claims/claim-1" in text


def test_a_revision_request_lists_its_notes_by_line_name_in_the_schedules_order_unknown_lines_last():
    review = sent_back(line_notes={"L-9": "unknown", "L-2": "second", "L-1": "first"})
    message = built(mail(review, line_names={"L-1": "03-300 Footings", "L-2": "03-310 Slab"}))
    assert message["Subject"] == "Harbour Tower: SC-0042 progress claim sent back to revise"
    assert message["Message-ID"] == "<claim-1.revise.2@invite-to-bill>"
    text = message.get_body(("plain",)).get_content()
    assert "- 03-300 Footings: first\n- 03-310 Slab: second\n- L-9: unknown\n" in text
    assert "by the end of 10 December 2026 (Australia/Sydney time)" in text


def test_a_period_the_notifier_has_not_heard_of_gives_times_in_utc_saying_so():
    text = built(mail(sent_back(), timezone=None)).get_body(("plain",)).get_content()
    assert "at 02:30 UTC on 7 December 2026" in text
    assert "by the end of 10 December 2026 (the project's time zone)" in text


def test_the_reason_and_notes_are_text_in_the_html_never_markup():
    review = sent_back(
        reason='<script>alert("x")</script> & <a href="http://evil.example">here</a>',
        line_notes={"L-1": "<img src=x onerror=alert(1)>"},
        reviewed_by={"id": "U-1", "name": "<b>Alex</b>", "email": "alex@acme.example"},
    )
    html = built(mail(review, line_names={"L-1": "<i>Footings</i>"})).get_body(("html",)).get_content()
    for markup in ("<script", '<a href="http://evil', "<img", "<b>Alex", "<i>Footings"):
        assert markup not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp;" in html


def test_a_reviewers_name_with_a_newline_stays_one_header_line():
    review = sent_back(reviewed_by={"id": "U-1", "name": "Alex\nBcc: eve@evil.example", "email": "alex@acme.example"})
    message = built(mail(review))
    assert message["Bcc"] is None
    assert message["Reply-To"].addresses[0].display_name == "Alex Bcc: eve@evil.example"
