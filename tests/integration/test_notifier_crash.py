"""The notifier killed (SIGKILL) in the middle of sending a project's invites, then started again."""

import asyncio
import email
import email.policy
import mailbox
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx

from deploy.embedded import free_port
from services.periods.app import definition as periods
from shared.contracts.topics import ERP_COMMITMENTS, ERP_DIRECTORY
from shared.sessions import issue_session_token
from tests.factories import commitment, erp_event, member
from tests.support import publish_event, running_service, service_settings

REPO = Path(__file__).resolve().parents[2]
CONTACTS = 150


def start_notifier(infrastructure, database_url: str, group: str, **settings: str) -> subprocess.Popen:
    """The notifier as a process of its own, to be killed; `settings` override the environment's (SMTP_PORT=...).
    Its leases are short, so that a notifier started after it takes its rows within seconds."""
    environment = {
        **os.environ,
        "SERVICE_NAME": "notifier",
        "DATABASE_URL": database_url,
        "DATABASE_NAME": database_url.rsplit("/", 1)[1],
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.bootstrap_servers,
        "KAFKA_GROUP_PREFIX": group,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(infrastructure.smtp_port),
        "SMTP_CONNECTIONS": "1",
        "SMTP_TIMEOUT_SECONDS": "5",
        "MAIL_LEASE_SECONDS": "6",
        "SECRET_KEY": "test-secret",
        "HTTP_PORT": str(free_port()),
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.notifier"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def sent_count(pool, project: str) -> int:
    """This project's invites sent: the notifier also hears other tests' periods on the same broker."""
    return await pool.fetchval(
        "SELECT count(*) FROM deliveries JOIN invites USING (invite_id) JOIN periods USING (period_id)"
        " WHERE status = 'sent' AND project_id = $1",
        project,
    )


def project_mail(maildir: Path, domain: str) -> list[EmailMessage]:
    """What the mail server kept for addresses at `domain`, in one pass over the Maildir (it holds hundreds of
    messages here, and every other test's too)."""
    if not maildir.is_dir():
        return []
    box = mailbox.Maildir(maildir, create=False)
    messages = (email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.keys())
    return [
        message
        for message in messages
        if any(to.strip().endswith("@" + domain) for to in str(message.get("X-Rcpt-To", "")).split(","))
    ]


async def test_a_notifier_killed_mid_sending_leaves_no_contact_without_an_invite_once_restarted(
    infrastructure, database_for
):
    project = f"P-{uuid.uuid4().hex[:8]}"
    domain = f"{project.lower()}.example"
    periods_database = await database_for("periods")
    notifier_database = await database_for("notifier")
    group = f"notifier-{uuid.uuid4().hex[:8]}"
    contacts = [
        {"user_id": f"{project}-{n}", "name": f"Contact {n}", "email": f"contact{n}@{domain}"} for n in range(CONTACTS)
    ]
    admin = member(f"{project}-admin", project_id=project, permission="admin", email=f"alex@{domain}")
    bootstrap = infrastructure.bootstrap_servers

    notifier = start_notifier(infrastructure, notifier_database.url, group)
    try:
        settings = service_settings(infrastructure, "periods", periods_database.url)
        async with running_service(periods, settings) as periods_service:
            await publish_event(bootstrap, ERP_DIRECTORY, admin.user_id, erp_event(admin))
            big = commitment(f"{project}-SC-1", project_id=project, invoice_contacts=contacts)
            await publish_event(bootstrap, ERP_COMMITMENTS, big.commitment_id, erp_event(big))
            token = issue_session_token(settings, admin.user_id, admin.email)
            today = datetime.now(UTC).date()
            dates = {
                "start_date": today.isoformat(),
                "end_date": (today + timedelta(days=30)).isoformat(),
                "due_date": (today + timedelta(days=10)).isoformat(),
            }
            headers = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=periods_service.base_url, headers=headers) as client:
                async with asyncio.timeout(60):  # until the ERP events have reached both services
                    while not (
                        await notifier_database.pool.fetchval(
                            "SELECT count(*) FROM erp_commitments WHERE project_id = $1", project
                        )
                        and (await client.get(f"/api/projects/{project}/billing-periods")).status_code == 200
                    ):
                        await asyncio.sleep(0.2)
                response = await client.post(f"/api/projects/{project}/billing-periods", json=dates)
                assert response.status_code == 201, response.text

            async with asyncio.timeout(60):
                while not await sent_count(notifier_database.pool, project):
                    await asyncio.sleep(0.01)
            notifier.send_signal(signal.SIGKILL)
            notifier.wait()
            sent_before_the_crash = len(project_mail(infrastructure.maildir, domain))
            assert sent_before_the_crash < CONTACTS, "the notifier should have died in the middle of sending"

            # It takes the killed one's rows once their leases have expired.
            notifier = start_notifier(infrastructure, notifier_database.url, group)
            async with asyncio.timeout(90):
                while await sent_count(notifier_database.pool, project) < CONTACTS:
                    await asyncio.sleep(0.2)
    finally:
        notifier.send_signal(signal.SIGTERM)
        notifier.wait(30)

    messages = project_mail(infrastructure.maildir, domain)
    message_ids = {}
    for message in messages:
        message_ids.setdefault(message["To"].addresses[0].addr_spec, set()).add(message["Message-ID"])
    assert sorted(message_ids) == sorted(contact["email"] for contact in contacts)
    # A contact who got the invite twice (sent, then the crash before it was recorded) got the same message.
    assert all(len(ids) == 1 for ids in message_ids.values())
