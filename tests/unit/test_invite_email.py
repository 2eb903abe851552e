"""The Invite to Bill email itself: subject, parts, links, and text from the ERP kept in its place."""

from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from services.notifier.mail.emails import InviteEmail, InviteEmails, Outgoing, build_message
from shared.contracts.base import Contact, Person
from shared.contracts.invites import Invite, InvitedCommitment
from shared.invite_links import read_invite_token
from shared.settings import Settings

SETTINGS = Settings(secret_key="test-secret", responses_public_url="https://answers.example/base/")
NOW = datetime(2026, 11, 2, tzinfo=UTC)


def invite(**changes) -> InviteEmail:
    """An email about an invite; `changes` name the parts to change, as `project_name` or `invited_by_name`."""
    fields = {
        "invite_id": "3f1c1d6e-0000-4000-8000-000000000001",
        "kind": "invite",
        "message_id": "<3f1c1d6e.invite@invite-to-bill>",
        "project_name": "Harbour Tower",
        "project_timezone": "Australia/Sydney",
        "commitment_number": "SC-0042",
        "commitment_title": "Formwork and concrete",
        "vendor_name": "Concrete Co Pty Ltd",
        "contact_name": "Jane Citizen",
        "contact_email": "jane@concreteco.example",
        "invited_by_name": "Alex Admin",
        "invited_by_email": "alex@acme.example",
        "start_date": date(2026, 11, 1),
        "end_date": date(2026, 11, 30),
        "due_date": date(2026, 12, 5),
        "due_at": datetime(2026, 12, 5, 13, 0, tzinfo=UTC),
    } | changes
    return InviteEmail(
        invite=Invite(
            invite_id=fields["invite_id"],
            period_id="8a1c1d6e-0000-4000-8000-000000000002",
            project_id="P-100",
            project_name=fields["project_name"],
            project_timezone=fields["project_timezone"],
            commitment=InvitedCommitment(
                commitment_id=fields["commitment_number"],
                number=fields["commitment_number"],
                title=fields["commitment_title"],
                vendor_name=fields["vendor_name"],
            ),
            contact=Contact(user_id="U-9", name=fields["contact_name"], email=fields["contact_email"]),
            invited_by=Person(id="U-1", name=fields["invited_by_name"], email=fields["invited_by_email"]),
            start_date=fields["start_date"],
            end_date=fields["end_date"],
            due_date=fields["due_date"],
            due_at=fields["due_at"],
        ),
        kind=fields["kind"],
        message_id=fields["message_id"],
    )


def sent(email: InviteEmail):
    """The message as the mail server receives it, parsed back."""
    return message_from_bytes(build_message(email, SETTINGS, NOW).as_bytes(), policy=policy.default)


def test_the_subject_is_exactly_project_name_user_name_has_invited_you_to_bill():
    assert sent(invite())["Subject"] == "Harbour Tower: Alex Admin has invited you to bill"


def test_replies_go_to_the_person_who_invited_and_the_message_id_is_the_deliverys():
    message = sent(invite())
    assert message["Reply-To"] == "Alex Admin <alex@acme.example>"
    assert message["To"] == "Jane Citizen <jane@concreteco.example>"
    assert message["Message-ID"] == "<3f1c1d6e.invite@invite-to-bill>"


def test_both_parts_say_the_period_who_invited_the_due_date_in_the_project_zone_and_ask_the_question():
    message = sent(invite())
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        for expected in (
            "SC-0042",
            "Formwork and concrete",
            "Concrete Co Pty Ltd",
            "1 November 2026 to 30 November 2026",
            "Alex Admin",
            "5 December 2026",
            "until the end of that day, Australia/Sydney time",
            "Do you want to bill this period?",
        ):
            assert expected in body, f"{expected!r} missing from the {part} part"


def test_yes_and_no_link_to_the_responses_page_of_this_invite_with_the_answer_chosen():
    html = sent(invite()).get_body(("html",)).get_content()
    prefix = 'href="https://answers.example/base/invites/'
    links = [chunk.split('"', 1)[0] for chunk in html.split(prefix)[1:]]
    assert [link.split("?")[1] for link in links] == ["answer=yes", "answer=no"]
    for link in links:
        assert read_invite_token(SETTINGS, link.split("?")[0]) == "3f1c1d6e-0000-4000-8000-000000000001"


def test_a_project_name_with_a_newline_cannot_add_a_header():
    message = sent(invite(project_name="Harbour Tower\r\nBcc: everyone@example.com", invited_by_name="Alex\nX: 1"))
    assert message["Bcc"] is None
    assert message["X"] is None
    assert message["Subject"].strip() == "Harbour Tower Bcc: everyone@example.com: Alex X: 1 has invited you to bill"


def test_names_from_the_erp_are_shown_as_text_in_the_html_never_as_markup():
    html = (
        sent(invite(project_name="<script>alert(1)</script>", vendor_name='"><img src=x onerror=alert(1)>'))
        .get_body(("html",))
        .get_content()
    )
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_resent_invite_says_so_and_keeps_the_subject():
    message = sent(invite(kind="resend"))
    assert message["Subject"] == "Harbour Tower: Alex Admin has invited you to bill"
    assert "sending this invite again" in message.get_body(("plain",)).get_content()


def test_a_reminder_says_it_is_one():
    message = sent(invite(kind="reminder"))
    assert message["Subject"] == "Reminder: Harbour Tower: Alex Admin has invited you to bill"
    assert "Reminder" in message.get_body(("html",)).get_content()


# --- The invite emails the worker sends: the part shared by a period built once, each email's own filled in ---

TRACE = {"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def sent_fast(emails: InviteEmails, email: InviteEmail):
    outgoing = emails.message(email, NOW, TRACE)
    assert isinstance(outgoing, Outgoing)
    assert outgoing.sender == "invites@invite-to-bill.example"
    assert outgoing.recipient == email.invite.contact.email
    return message_from_bytes(outgoing.data, policy=policy.default)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"kind": "reminder"},
        {"kind": "resend"},
        {"contact_name": 'Zoë "Q" Ånström, Jr'},
        {"contact_name": "李小龙"},
        {"contact_name": "Jane\r\nBcc: everyone@example.com"},
        {"contact_name": "A" * 200},
        {"contact_name": "line\u2028separator\x85next"},
        {"vendor_name": '"><img src=x onerror=alert(1)>'},
        {"vendor_name": "Concrete Co\n"},
        {"commitment_title": "Ünïcødé " * 20},
        {"commitment_number": "SC-1 =?utf-8?q?x?= \x000\x00"},
        {"project_name": "Harbour <b>Tower</b>", "invited_by_name": "Alex\nAdmin"},
    ],
)
def test_an_invite_sent_from_the_periods_shared_part_reads_as_the_email_built_whole(changes):
    emails = InviteEmails(SETTINGS)
    sent_fast(emails, invite(contact_name="Someone Else", invite_id="3f1c1d6e-0000-4000-8000-000000000009"))
    email = invite(**changes)
    _reads_the_same(sent_fast(emails, email), sent(email))


def test_a_period_whose_shared_text_holds_a_nul_is_built_whole_and_reads_the_same():
    email = invite(project_name="Harbour \x000\x00 Tower")
    message = InviteEmails(SETTINGS).message(email, NOW, TRACE)
    assert isinstance(message, EmailMessage)
    _reads_the_same(message_from_bytes(message.as_bytes(), policy=policy.default), sent(email))


def _reads_the_same(fast, whole):
    for header in ("Subject", "From", "To", "Reply-To", "Message-ID", "Date", "Auto-Submitted"):
        assert fast[header] == whole[header], header
    assert fast["Bcc"] is None
    assert fast["Traceparent"] == TRACE["Traceparent"]
    for part in ("plain", "html"):
        assert fast.get_body((part,)).get_content() == whole.get_body((part,)).get_content(), part


def test_each_invite_of_a_period_has_its_own_links_and_contact():
    emails = InviteEmails(SETTINGS)
    first = sent_fast(emails, invite())
    second = sent_fast(
        emails,
        invite(
            invite_id="3f1c1d6e-0000-4000-8000-000000000002", contact_name="Raj Patel", contact_email="raj@x.example"
        ),
    )
    assert second["To"] == "Raj Patel <raj@x.example>"
    assert "Hello Raj Patel," in second.get_body(("plain",)).get_content()
    tokens = [_tokens(message) for message in (first, second)]
    assert [read_invite_token(SETTINGS, token) for token in tokens[0]] == ["3f1c1d6e-0000-4000-8000-000000000001"] * 2
    assert [read_invite_token(SETTINGS, token) for token in tokens[1]] == ["3f1c1d6e-0000-4000-8000-000000000002"] * 2


def test_an_address_that_needs_smtputf8_is_built_whole_by_the_library():
    message = InviteEmails(SETTINGS).message(invite(contact_email="jane@bücher.example"), NOW, TRACE)
    assert isinstance(message, EmailMessage)
    assert message["Traceparent"] == TRACE["Traceparent"]


def test_an_address_no_email_can_carry_is_refused_as_when_built_whole():
    with pytest.raises(ValueError):
        InviteEmails(SETTINGS).message(invite(contact_email="not an address"), NOW, TRACE)


def _tokens(message) -> list[str]:
    html = message.get_body(("html",)).get_content()
    return [chunk.split("?", 1)[0] for chunk in html.split('href="https://answers.example/base/invites/')[1:]]
