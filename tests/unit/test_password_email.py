"""The one-time password link email: subject, parts, the link, and a person's name kept in its place."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

from services.notifier.domain import may_send_password_link
from services.notifier.mail.emails import PasswordEmail, build_password_message, expires_within
from shared.password_links import read_password_link_token
from shared.settings import Settings

SETTINGS = Settings(
    secret_key="test-secret",
    claims_public_url="https://claims.example/base/",
    mail_from="Invite to Bill <invites@itb.example>",
)
NOW = datetime(2026, 11, 2, 13, 5, tzinfo=UTC)
REQUEST_ID = "9d2f4a70-0000-4000-8000-000000000007"


def password_email(**changes) -> PasswordEmail:
    fields = {
        "request_id": REQUEST_ID,
        "message_id": f"<{REQUEST_ID}.password@invite-to-bill>",
        "name": "Jane Citizen",
        "email": "jane@concreteco.example",
        "expires_at": NOW + timedelta(hours=1),
    }
    return PasswordEmail(**(fields | changes))


def sent(email: PasswordEmail):
    """The message as the mail server receives it, parsed back."""
    return message_from_bytes(build_password_message(email, SETTINGS, NOW).as_bytes(), policy=policy.default)


def links(html: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in html.split('href="')[1:]]


def test_the_subject_sender_recipient_and_message_id_are_the_requests():
    message = sent(password_email())
    assert message["Subject"] == "Set your Invite to Bill password"
    assert message["From"] == "Invite to Bill <invites@itb.example>"
    assert message["To"] == "Jane Citizen <jane@concreteco.example>"
    assert message["Message-ID"] == f"<{REQUEST_ID}.password@invite-to-bill>"


def test_both_parts_greet_by_name_link_once_say_when_it_expires_and_that_it_can_be_ignored():
    message = sent(password_email())
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        for expected in (
            "Hello Jane Citizen,",
            "https://claims.example/base/password/",
            "This link works once, and it expires within an hour, at 14:05 UTC on 2 November 2026.",
            "If you did not ask for this, you can ignore this email",
        ):
            assert expected in body, f"{expected!r} missing from the {part} part"


def test_the_set_your_password_button_links_to_the_claims_page_of_this_request():
    html = sent(password_email()).get_body(("html",)).get_content()
    assert ">Set your password</a>" in html
    [button, *_] = links(html)
    assert button.startswith("https://claims.example/base/password/")
    assert read_password_link_token(SETTINGS, button.rsplit("/", 1)[1]) == (REQUEST_ID, "jane@concreteco.example")
    assert set(links(html)) == {button}  # the address under the button is the same link


def test_the_plain_text_part_has_the_same_link():
    text = sent(password_email()).get_body(("plain",)).get_content()
    [link] = [line for line in text.splitlines() if line.startswith("https://")]
    assert read_password_link_token(SETTINGS, link.rsplit("/", 1)[1]).request_id == REQUEST_ID


def test_a_name_with_markup_and_a_newline_adds_no_header_and_no_markup():
    message = sent(password_email(name="Jane <script>alert(1)</script>\r\nBcc: everyone@example.com"))
    assert message["Bcc"] is None
    assert [address.addr_spec for address in message["To"].addresses] == ["jane@concreteco.example"]
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "Hello Jane &lt;script&gt;alert(1)&lt;/script&gt; Bcc: everyone@example.com," in html
    text = message.get_body(("plain",)).get_content()
    assert "Hello Jane <script>alert(1)</script> Bcc: everyone@example.com,\n" in text


def test_a_link_sent_late_says_how_long_it_has_left_rounded_up():
    assert expires_within(timedelta(hours=1)) == "within an hour"
    assert expires_within(timedelta(minutes=59, seconds=30)) == "within an hour"
    assert expires_within(timedelta(minutes=44, seconds=1)) == "within 45 minutes"
    assert expires_within(timedelta(seconds=20)) == "within a minute"
    assert expires_within(timedelta(hours=23, minutes=1)) == "within 24 hours"


def test_a_password_link_is_sent_only_before_it_expires():
    expires_at = NOW + timedelta(hours=1)
    assert may_send_password_link(expires_at, NOW)
    assert may_send_password_link(expires_at, expires_at - timedelta(seconds=1))
    assert not may_send_password_link(expires_at, expires_at)
    assert not may_send_password_link(expires_at, expires_at + timedelta(days=1))
