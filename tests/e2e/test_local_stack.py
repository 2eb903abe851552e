"""`itb up` (= `make up`) as a person runs it: the whole system with demo data, then SIGTERM ends it all."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import asyncpg
import psutil
import pytest
from argon2 import PasswordHasher

from deploy.caught_mail import list_messages
from deploy.demo import demo_logins
from deploy.embedded import postgres_url
from shared.contracts.topics import SERVICES
from tests.e2e import local_stack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
READY_LINE = local_stack.READY_LINE


@pytest.fixture
def stack_environment(state_folder):
    return local_stack.stack_environment(dict(os.environ), state_folder)


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_itb_up_runs_every_part_with_demo_data_and_sigterm_stops_every_process(stack_environment):
    stack = subprocess.Popen(
        [sys.executable, "-m", "deploy", "up"],
        cwd=REPO,
        env=stack_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = []
    # If `itb up` hangs without a word, end it rather than the test run: reading its output would block.
    watchdog = threading.Timer(180, stack.kill)
    watchdog.start()
    try:
        for line in stack.stdout:
            printed.append(line)
            if READY_LINE in line or stack.poll() is not None:
                break
        output = "".join(printed)
        assert READY_LINE in output, output
        # PostgreSQL's backends come and go; the parts themselves are the stack's own children.
        descendants = psutil.Process(stack.pid).children(recursive=True)
        names = " ".join(command_line(child) for child in psutil.Process(stack.pid).children())
        for part in ("tansu", "postgres", "deploy.mailcatcher", *(f"services.{s}" for s in SERVICES)):
            assert part in names, f"{part} is not running under itb up"

        for service in SERVICES:
            port = stack_environment[f"ITB_{service.upper()}_PORT"]
            assert f"http://127.0.0.1:{port}" in output
            status, body = get(f"http://127.0.0.1:{port}/readyz")
            assert (status, json.loads(body)["status"]) == (200, "ready")
        status, _ = get(f"http://127.0.0.1:{stack_environment['ITB_MAIL_UI_PORT']}/")
        assert status == 200

        # The demo administrator arrived through Kafka, and the printed token is accepted.
        token = next(line.split("=", 1)[1].strip() for line in printed if "export ITB_TOKEN=" in line)
        periods = f"http://127.0.0.1:{stack_environment['ITB_PERIODS_PORT']}"
        request = urllib.request.Request(
            f"{periods}/api/projects/P-100/billing-periods", headers={"Authorization": f"Bearer {token}"}
        )
        status, body = get(request)
        [period] = json.loads(body)
        assert (status, period["status"]) == (200, "open")

        # Every demo user's password is printed beside the claims login page, kept privately, and set.
        claims = f"http://127.0.0.1:{stack_environment['ITB_CLAIMS_PORT']}"
        assert f"{claims}/login" in output and f"{claims}/claims" in output
        printed_passwords = demo_passwords_in(printed)
        passwords_file = Path(stack_environment["ITB_STATE_DIR"]) / "demo_passwords.json"
        assert printed_passwords == json.loads(passwords_file.read_text())
        assert passwords_file.stat().st_mode & 0o777 == 0o600
        claims_database = postgres_url(int(stack_environment["ITB_POSTGRES_PORT"]), "claims")
        password_hash = asyncio.run(stored_password_hash(claims_database, "U-9"))
        assert PasswordHasher().verify(password_hash, printed_passwords["jane@concreteco.example"])

        # The demo period's invites reach the mail catcher: one per contact of the four invitable commitments,
        # but for the address the catcher refuses (the draft SC-0050's contact is not invited).
        maildir = Path(stack_environment["ITB_STATE_DIR"]) / "mail"
        deadline = time.monotonic() + 30
        while len(list_messages(maildir)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        invited = sorted(recipient for message in list_messages(maildir) for recipient in message.recipients)
        assert invited == ["jane@concreteco.example", "mei@harboursteel.example", "raj@concreteco.example"]

        # After the ready line, the demo contacts answer through the pages: every state of the period board.
        for line in stack.stdout:
            printed.append(line)
            if line.startswith("Demo answers") or stack.poll() is not None:
                break
        assert "jane@concreteco.example Yes" in printed[-1] and "raj@concreteco.example No" in printed[-1]
        assert asyncio.run(demo_states(stack_environment)) == {
            "answers": {"jane@concreteco.example": "yes", "raj@concreteco.example": "no"},
            "claims": [("SC-0042", "U-9", "draft")],
            "failed": [("tom@brightsparks.example", "550 5.1.1 Mailbox unavailable: no such user here")],
        }
    finally:
        watchdog.cancel()
        stack.send_signal(signal.SIGTERM)
        exit_code = stack.wait(60)
        stack.stdout.close()

    assert exit_code == 0
    left_behind = [command_line(process) for process in descendants if alive(process)]
    assert left_behind == []


async def demo_states(environment: dict, within: float = 30) -> dict:
    """The demo's answers, claims and failed deliveries, once the answers have had their effects."""
    port = int(environment["ITB_POSTGRES_PORT"])
    databases = {name: await asyncpg.connect(postgres_url(port, name)) for name in ("responses", "claims", "notifier")}
    try:
        async with asyncio.timeout(within):
            while True:
                states = {
                    "answers": dict(
                        await databases["responses"].fetch(
                            "SELECT contact->>'email', answer FROM answers JOIN invites USING (invite_id)"
                        )
                    ),
                    "claims": [
                        tuple(row)
                        for row in await databases["claims"].fetch(
                            "SELECT commitment_id, contact->>'user_id', status FROM claims ORDER BY commitment_id"
                        )
                    ],
                    "failed": [
                        tuple(row)
                        for row in await databases["notifier"].fetch(
                            "SELECT contact_email, last_reply FROM deliveries JOIN invites USING (invite_id)"
                            " WHERE status = 'failed'"
                        )
                    ],
                }
                if states["claims"] and states["failed"]:
                    return states
                await asyncio.sleep(0.2)
    finally:
        for connection in databases.values():
            await connection.close()


def demo_passwords_in(printed: list[str]) -> dict[str, str]:
    """email -> password, from the banner's lines `  email  password  name, company`."""
    emails = {email for email, _, _ in demo_logins()}
    words = [line.split() for line in printed]
    return {line[0]: line[1] for line in words if len(line) > 1 and line[0] in emails}


async def stored_password_hash(database_url: str, user_id: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT password_hash FROM accounts WHERE user_id = $1", user_id)
    finally:
        await connection.close()


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended (or became a zombie) since it was listed
        return ""


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
