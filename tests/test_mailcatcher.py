import re
import signal
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from deploy.caught_mail import format_listing, format_message, list_messages, read_message
from deploy.mailcatcher import DEMO_REFUSED_ADDRESS, MailCatcher

REPO = Path(__file__).resolve().parents[1]
GC_ADMIN = "alex.admin@acme.example"
SUBCONTRACTOR = "jane@concreteco.example"
CLAIM_LINK = "https://itb.example/claims/C-1?token=abc&period=2026-11"


@pytest.fixture
async def catcher(tmp_path):
    catcher = MailCatcher(tmp_path / "mail", smtp_port=0, http_port=0)
    await catcher.start()
    yield catcher
    await catcher.stop()


def invite(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Invite to Bill <billing@acme.example>"
    message["To"] = SUBCONTRACTOR
    message["Bcc"] = GC_ADMIN
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain="acme.example")
    message.set_content(f"Submit your claim for November: {CLAIM_LINK}\n")
    message.add_alternative(
        f'<html><head></head><body><a href="{CLAIM_LINK}">Submit your claim</a></body></html>', subtype="html"
    )
    return message


async def send(catcher: MailCatcher, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname=catcher.host, port=catcher.smtp_port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def test_caught_messages_are_listed_in_order_of_arrival_with_envelope_recipients(catcher):
    await send(catcher, invite("Rechnung für November — Harbour Tower"))
    await send(catcher, invite("Reminder: claims close on Friday"))

    first, second = list_messages(catcher.maildir)

    assert (first.number, first.subject) == (1, "Rechnung für November — Harbour Tower")
    assert (second.number, second.subject) == (2, "Reminder: claims close on Friday")
    assert first.sender == "billing@acme.example"
    assert first.recipients == (SUBCONTRACTOR, GC_ADMIN)
    assert first.received_at <= second.received_at


async def test_a_caught_message_reads_back_with_its_plain_and_html_parts(catcher):
    await send(catcher, invite("Rechnung für November"))

    message = read_message(catcher.maildir, 1)

    assert message["Subject"] == "Rechnung für November"
    assert message["X-Rcpt-To"] == f"{SUBCONTRACTOR}, {GC_ADMIN}"
    assert CLAIM_LINK in message.get_body(preferencelist=("plain",)).get_content()
    assert f'<a href="{CLAIM_LINK}">' in message.get_body(preferencelist=("html",)).get_content()


async def test_the_demo_s_refused_address_gets_a_550_for_rcpt_to_and_other_recipients_still_get_the_message(tmp_path):
    catcher = MailCatcher(tmp_path / "mail", smtp_port=0, http_port=0, refused=[DEMO_REFUSED_ADDRESS.upper()])
    await catcher.start()
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(
                invite("Invite to bill"),
                recipients=[DEMO_REFUSED_ADDRESS],
                hostname=catcher.host,
                port=catcher.smtp_port,
            )
        [reply] = refused.value.recipients
        assert (reply.code, reply.message) == (550, "5.1.1 Mailbox unavailable: no such user here")
        await aiosmtplib.send(
            invite("Invite to bill"),
            recipients=[SUBCONTRACTOR, DEMO_REFUSED_ADDRESS],
            hostname=catcher.host,
            port=catcher.smtp_port,
        )
    finally:
        await catcher.stop()
    [caught] = list_messages(catcher.maildir)
    assert caught.recipients == (SUBCONTRACTOR,)


async def test_reading_a_message_that_is_not_there_says_how_many_there_are(catcher):
    await send(catcher, invite("Invite to bill"))

    with pytest.raises(LookupError, match=re.escape("There is no message 7; `itb mail list` shows 1 message.")):
        read_message(catcher.maildir, 7)


async def test_the_cli_listing_and_message_show_recipients_subject_and_other_parts(catcher):
    await send(catcher, invite("Invite to bill for November"))

    listing = format_listing(catcher.maildir)
    shown = format_message(catcher.maildir, 1)

    assert re.fullmatch(
        rf"1  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d  {SUBCONTRACTOR}, {GC_ADMIN}  Invite to bill for November",
        listing,
    )
    assert "Subject: Invite to bill for November" in shown
    assert f"To: {SUBCONTRACTOR}" in shown
    assert re.search(r"^Date: .+$", shown, re.M)
    assert re.search(r"^Message-ID: <.+@acme\.example>$", shown, re.M)
    assert f"Submit your claim for November: {CLAIM_LINK}" in shown
    assert shown.endswith("Other parts: text/html.")


def test_the_listing_of_an_empty_maildir_says_no_mail_has_arrived(tmp_path):
    assert format_listing(tmp_path / "mail") == (
        f"No mail has arrived in {tmp_path / 'mail'} yet; messages the stack sends will be listed here."
    )


async def test_the_page_lists_messages_newest_first_and_escapes_their_subjects(catcher):
    await send(catcher, invite("Invite to bill <script>alert(1)</script>"))
    await send(catcher, invite("Reminder"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{catcher.http_port}") as client:
        page = (await client.get("/")).text

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "<script>" not in page
    assert '<a href="/messages/1">Invite to bill &lt;script&gt;alert(1)&lt;/script&gt;</a>' in page
    assert page.index('href="/messages/2"') < page.index('href="/messages/1"')


async def test_the_message_page_shows_the_html_part_in_a_sandboxed_frame_and_escapes_the_rest(catcher):
    await send(catcher, invite("Invite to bill <script>alert(1)</script>"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{catcher.http_port}") as client:
        response = await client.get("/messages/1")
    page = response.text

    assert response.status_code == 200
    escaped_link = CLAIM_LINK.replace("&", "&amp;")
    assert (
        '<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" title="HTML part" srcdoc="'
        "&lt;html&gt;&lt;head&gt;&lt;base target=&quot;_blank&quot;&gt;&lt;/head&gt;"
        f"&lt;body&gt;&lt;a href=&quot;{escaped_link}&quot;&gt;Submit your claim"
    ) in page
    assert f"<pre>Submit your claim for November: {escaped_link}\n</pre>" in page
    assert "<h1>Invite to bill &lt;script&gt;alert(1)&lt;/script&gt;</h1>" in page
    assert "<script>" not in page


async def test_the_raw_message_and_the_json_list_carry_the_envelope(catcher):
    await send(catcher, invite("Invite to bill"))

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{catcher.http_port}") as client:
        raw = await client.get("/messages/1/raw")
        listed = (await client.get("/api/messages")).json()

    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.text.startswith(f"X-Mail-From: billing@acme.example\nX-Rcpt-To: {SUBCONTRACTOR}, {GC_ADMIN}\n")
    assert [(item["number"], item["recipients"], item["subject"]) for item in listed] == [
        (1, [SUBCONTRACTOR, GC_ADMIN], "Invite to bill")
    ]


async def test_a_message_that_is_not_there_is_a_404_with_a_sentence(catcher):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{catcher.http_port}") as client:
        response = await client.get("/messages/3")

    assert response.status_code == 404
    assert "There is no message 3; the catcher holds no messages." in response.text


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_catcher_process_stops_cleanly_on_a_stop_signal(tmp_path, stop_signal):
    smtp_port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "deploy.mailcatcher", "--maildir", str(tmp_path / "mail")]
    ports = ["--smtp-port", str(smtp_port), "--http-port", str(http_port)]
    with subprocess.Popen(
        [*command, *ports], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            deadline = time.monotonic() + 10
            while not accepts(smtp_port):
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the catcher did not start listening within 10 seconds"
                time.sleep(0.05)

            process.send_signal(stop_signal)
            _, stderr = process.communicate(timeout=5)
        finally:
            process.kill()

    assert process.returncode == 0, stderr
    assert stderr.strip() == (
        f"Catching mail on 127.0.0.1:{smtp_port} into {tmp_path / 'mail'}; read it at http://127.0.0.1:{http_port}/"
        f"; refusing mail to {DEMO_REFUSED_ADDRESS}"  # the demo's, by default
    )
