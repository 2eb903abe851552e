"""The local stack's demo, once its services run: the ERP's demo records published, this month's billing
period opened as the demo administrator would, and the demo users given passwords, all said on the way. Then,
in the background, two contacts answer their invites as they would, through the links in the mail the catcher
caught, so that the period board shows every state (README, "Demo data")."""

import asyncio
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from deploy.caught_mail import list_messages, read_message
from deploy.demo import (
    ADMINISTRATOR_EMAIL,
    DEMO_PROJECT_ID,
    demo_logins,
    demo_passwords,
    demo_period_dates,
    give_demo_passwords,
    publish_demo_data,
)
from deploy.mailcatcher import DEMO_REFUSED_ADDRESS
from deploy.state_files import read_json, write_private
from shared.erp import user_id_for_email
from shared.session_versions import session_version
from shared.sessions import issue_session_token
from shared.settings import Settings

DEMO_PASSWORDS_FILE = "demo_passwords.json"
# Who answers the demo invite, and how: a Yes (which makes a draft claim) and a No. Mei Chen does not answer,
# and the mail catcher refuses Tom Nguyen's address (DEMO_REFUSED_ADDRESS).
DEMO_ANSWERS = {"jane@concreteco.example": "yes", "raj@concreteco.example": "no"}
ANSWER_WAIT_SECONDS = 120
_INVITE_LINK = re.compile(r"http://\S+/invites/[^\s?\"]+")
_CSRF_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

Say = Callable[[str], None]


def seed_demo(state: Path, environment: dict, periods_port: int, say: Say) -> None:
    """`environment` is the services' (their database, broker, secret and public addresses)."""
    published = asyncio.run(publish_demo_data(environment["KAFKA_BOOTSTRAP_SERVERS"]))
    say(f"Demo data      {published} ERP events published on erp.commitments and erp.directory")
    _explain_administrator(environment, periods_port, say)
    _give_demo_passwords(state, environment, say)
    answer_demo_invites_in_the_background(state / "mail", say)


def answer_demo_invites_in_the_background(maildir: Path, say: Say) -> threading.Thread:
    """The demo contacts' answers (DEMO_ANSWERS), given once their invites have been caught, without holding up
    the stack's start; a line says what became of them. A daemon: stopping the stack does not wait for it."""

    def answer() -> None:
        say(asyncio.run(answer_demo_invites(maildir)))

    thread = threading.Thread(target=answer, name="demo answers", daemon=True)
    thread.start()
    return thread


async def answer_demo_invites(maildir: Path, within: float = ANSWER_WAIT_SECONDS) -> str:
    """Each demo contact in DEMO_ANSWERS answers as they would: the invite link from the caught mail opened, then
    the page's form posted. What became of them, as a line to print."""
    try:
        async with asyncio.timeout(within):
            async with httpx.AsyncClient(timeout=10) as client:
                for email, answer in DEMO_ANSWERS.items():
                    await _answer_invite(client, await _invite_link(maildir, email), answer)
    except TimeoutError:
        return (
            f"Demo answers   not all given: the demo invites did not reach the mail catcher ({maildir}) or could "
            f"not be answered within {within:g} seconds; the notifier's and responses' logs may say why."
        )
    answers = ", ".join(f"{email} {answer.title()}" for email, answer in DEMO_ANSWERS.items())
    return (
        f"Demo answers   {answers} (a draft claim); the mail catcher refuses {DEMO_REFUSED_ADDRESS}, so that "
        "invite's delivery failed"
    )


async def _invite_link(maildir: Path, email: str) -> str:
    """The invite link in the newest message to `email` that has one, once there is such a message."""
    while True:
        if link := await asyncio.to_thread(_newest_invite_link, maildir, email):
            return link
        await asyncio.sleep(0.5)


def _newest_invite_link(maildir: Path, email: str) -> str | None:
    for message in reversed(list_messages(maildir)):
        if email in message.recipients:
            plain = read_message(maildir, message.number).get_body(preferencelist=("plain",))
            if plain is not None and (link := _INVITE_LINK.search(plain.get_content())):
                return link.group(0)
    return None


async def _answer_invite(client: httpx.AsyncClient, link: str, answer: str) -> None:
    """Open the invite page, then press the answer's button; again while the responses service has not heard
    of the invite yet (it answers 202 or 409 meanwhile). An answer given before (an earlier start) stands."""
    while True:
        try:
            page = await client.get(link)
            if page.status_code == 200 and (token := _CSRF_TOKEN.search(page.text)):
                sent = await client.post(link, data={"answer": answer, "csrf_token": token.group(1)})
                if sent.status_code < 500 and sent.status_code not in (202, 409):
                    return
        except httpx.TransportError:
            pass  # the responses service is starting again; so is this attempt, in a moment
        await asyncio.sleep(0.5)


def _explain_administrator(environment: dict, periods_port: int, say: Say) -> None:
    settings = Settings(database_url=environment["DATABASE_URL"], secret_key=environment["SECRET_KEY"])
    known = asyncio.run(_wait_for_user(settings.service_database_url("periods"), ADMINISTRATOR_EMAIL))
    if known is None:
        say(
            "The demo administrator has not reached the periods service yet; "
            f"try `itb token {ADMINISTRATOR_EMAIL}` in a moment."
        )
        return
    user_id, version = known
    token = issue_session_token(settings, user_id, ADMINISTRATOR_EMAIL, session_version=version)
    periods = f"http://127.0.0.1:{periods_port}/api/projects/{DEMO_PROJECT_ID}/billing-periods"
    say(_open_demo_period(periods, token))
    say(
        f"\nRun the billing round   {environment['PERIODS_PUBLIC_URL']}/  (log in as {ADMINISTRATOR_EMAIL}, "
        "password below)\n"
        f"\nOr by API, as the demo administrator ({ADMINISTRATOR_EMAIL}, Admin on {DEMO_PROJECT_ID}):\n"
        f"  export ITB_TOKEN={token}\n"
        f"  (a new one at any time: `itb token {ADMINISTRATOR_EMAIL}`)\n"
        '  curl -s -H "Authorization: Bearer $ITB_TOKEN" ' + periods + "\n"
    )


def _give_demo_passwords(state: Path, environment: dict, say: Say) -> None:
    passwords_file = state / DEMO_PASSWORDS_FILE
    passwords = saved_demo_passwords(passwords_file)
    claims_database = Settings(database_url=environment["DATABASE_URL"]).service_database_url("claims")
    asyncio.run(give_demo_passwords(claims_database, passwords))
    claims = environment["CLAIMS_PUBLIC_URL"]
    say(f"Log in as a demo user   {claims}/login")
    say(f"My invites and claims   {claims}/claims")
    for email, name, company in demo_logins():
        say(f"  {email:<30} {passwords[email]}  {name}, {company}")
    say(f"  (set again on every `itb up`, kept in {passwords_file};")
    say("  `itb up --fresh` makes new ones)\n")


async def _wait_for_user(database_url: str, email: str) -> tuple[str, int] | None:
    """The user's id once the ERP directory events have reached the database, with their session version (a
    token of an older one, made before they logged out, is refused); None after a minute."""
    connection = await asyncpg.connect(database_url)
    try:
        for _ in range(120):
            if user_id := await user_id_for_email(connection, email):
                return user_id, await session_version(connection, user_id)
            await asyncio.sleep(0.5)
        return None
    finally:
        await connection.close()


def _open_demo_period(url: str, token: str) -> str:
    """Open this month's billing period for the demo project, as its administrator would, unless an earlier
    start of the stack (whose database is kept) opened it already. The administrator may reach the periods
    service before the project's commitments do (topics are not ordered): until then it answers 404."""
    for _ in range(120):
        outcome = _try_to_open_demo_period(url, token)
        if outcome is not None:
            return outcome
        time.sleep(0.5)
    return "Demo period    not opened: the demo project's commitments have not reached the periods service."


def _try_to_open_demo_period(url: str, token: str) -> str | None:
    """What became of the demo period; None while the periods service does not know the project yet."""
    dates = demo_period_dates(datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            opened = [period for period in json.loads(response.read()) if period["start_date"] == dates["start_date"]]
        if opened:
            return _demo_period_line(opened[0], "opened by an earlier start; its invites are in the mail catcher")
        request = urllib.request.Request(url, data=json.dumps(dates).encode(), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return _demo_period_line(json.loads(response.read()), "the invites are in the mail catcher")
    except urllib.error.HTTPError as refusal:
        if refusal.code == 404:
            return None
        return f"Demo period    not opened: {json.loads(refusal.read())['detail']}"


def _demo_period_line(period: dict, what_then: str) -> str:
    return f"Demo period    {period['start_date']} to {period['end_date']}, due {period['due_date']}: {what_then}"


def saved_demo_passwords(passwords_file: Path) -> dict[str, str]:
    """The demo passwords from the last `itb up`, so that the ones printed then keep working; new ones where
    there are none."""
    saved = read_json(passwords_file)
    passwords = demo_passwords(saved)
    if passwords != saved:
        write_private(passwords_file, json.dumps(passwords, indent=2) + "\n")
    return passwords
