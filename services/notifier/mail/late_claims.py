"""The emails about a request to claim late (rule 18b), and the worker that sends them (the late_claim_mails
table), as the claim review emails are built and sent (`emails.py`, `workers.py`)."""

from email.headerregistry import Address
from email.message import EmailMessage
from urllib.parse import urlencode

import asyncpg

from services.notifier import repository
from services.notifier.domain import LATE_CLAIM_ALLOWED, LATE_CLAIM_REQUESTED, LateClaimMail
from services.notifier.mail.emails import _add_body, _local_time, _new_message, _utc_time, day, one_line
from services.notifier.mail.workers import MailWorker, with_headers
from shared.contracts.claims import ClaimWindowExtended, LateClaimRequested, LateClaimRequestRefused
from shared.settings import Settings


def late_claim_subject(mail: LateClaimMail) -> str:
    step, project, commitment = mail.step, _project(mail), _commitment(mail)
    if isinstance(step, LateClaimRequested):
        return f"{project}: {step.contact.name} asks to claim late for {commitment}"
    if isinstance(step, ClaimWindowExtended):
        return f"{project}: you may claim late for {commitment} until {day(step.allowed_until)}"
    return f"{project}: your request to claim late for {commitment} is refused"


def late_request_url(settings: Settings, request_id: str) -> str:
    return f"{settings.claims_public_url.rstrip('/')}/late-claim-requests/{request_id}"


def new_claim_url(settings: Settings, commitment_id: str, period_id: str) -> str:
    query = urlencode({"commitment": commitment_id, "period": period_id})
    return f"{settings.claims_public_url.rstrip('/')}/claims/new?{query}"


def build_late_claim_message(mail: LateClaimMail, settings: Settings, now) -> EmailMessage:
    """The request to the administrator asked (Reply-To the contact), with the link to answer it; the answer to
    the contact (Reply-To whoever answered): allowed until a day, with the link to New Progress Claim, or the
    reason it was refused."""
    step, title = mail.step, late_claim_subject(mail)
    timezone = mail.project_timezone
    if isinstance(step, LateClaimRequested):
        to, reply_to, when = step.asked, step.contact.as_person, step.requested_at
    elif isinstance(step, ClaimWindowExtended):
        to, reply_to, when = step.contact.as_person, step.allowed_by, step.allowed_at
    else:
        to, reply_to, when = step.contact.as_person, step.refused_by, step.refused_at
    message = _new_message(settings, title, to.name, to.email, mail.message_id, now)
    message["Reply-To"] = Address(one_line(reply_to.name), addr_spec=reply_to.email)
    _add_body(
        message,
        "late_claim",
        {
            "subject": title,
            "kind": mail.kind,
            "requested": mail.kind == LATE_CLAIM_REQUESTED,
            "allowed": mail.kind == LATE_CLAIM_ALLOWED,
            "name": one_line(to.name),
            "contact": one_line(step.contact.name),
            "contact_email": step.contact.email,
            "answered_by": one_line(reply_to.name),
            "project": one_line(_project(mail)),
            "commitment": one_line(_commitment(mail)),
            "when": _local_time(when, timezone) if timezone else _utc_time(when),
            "time_zone": f"{timezone} time" if timezone else "the project's time zone",
            "message": (step.message or "").strip() if isinstance(step, LateClaimRequested) else "",
            "allowed_until": day(step.allowed_until) if isinstance(step, ClaimWindowExtended) else None,
            "reason": step.reason.strip() if isinstance(step, LateClaimRequestRefused) else "",
            "link": late_request_url(settings, step.request_id)
            if isinstance(step, LateClaimRequested)
            else new_claim_url(settings, step.commitment_id, step.period_id),
        },
    )
    return message


def _project(mail: LateClaimMail) -> str:
    return mail.project_name or mail.step.project_id


def _commitment(mail: LateClaimMail) -> str:
    return mail.commitment or mail.step.commitment_id


class LateClaimMailWorker(MailWorker):
    """Sends the emails about requests to claim late and their answers (the late_claim_mails table)."""

    channel = "late_claim_mails"
    table = repository.LATE_CLAIM_MAILS
    not_sent = "cancelled"

    async def claim(self, connection: asyncpg.Connection, limit: int, in_flight: list) -> list[LateClaimMail]:
        return await repository.claim_late_claim_mails(connection, limit, self._lease_time, self._leased_by, in_flight)

    def kind_of(self, mail: LateClaimMail) -> str:
        return mail.kind

    def trace_of(self, mail: LateClaimMail) -> dict[str, str]:
        return mail.trace_context

    def build(self, mail: LateClaimMail, headers: dict[str, str]) -> EmailMessage:
        return with_headers(build_late_claim_message(mail, self._settings, self._clock()), headers)
