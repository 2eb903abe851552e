"""Who may do what with a progress claim, and when (rules 14 to 19), free of I/O."""

from datetime import datetime
from typing import Literal

from shared.erp import holds

Role = Literal["administrator", "contact"]
Refusal = Literal["due_date_passed", "period_closed"]

EDITABLE_STATUSES = ("draft", "revise_and_resubmit")  # rule 18: contacts edit only these
STATUS_NAMES = {
    "draft": "Draft",
    "under_review": "Submitted, under review",
    "approved": "Approved",
    "revise_and_resubmit": "Revise and resubmit",
}


def role_for(commitments_permission: str, designated: bool) -> Role | None:
    """Rule 19: Admin on the project's Commitments tool makes an administrator; Read Only (or more) and being
    designated on the commitment makes a contact; anyone else has no part in the commitment's claims."""
    if holds(commitments_permission, "admin"):
        return "administrator"
    if holds(commitments_permission, "read_only") and designated:
        return "contact"
    return None


def contact_refusal(due_at: datetime, period_closed: bool, now: datetime) -> Refusal | None:
    """Why a contact may not create, change or submit a claim now (rules 15 and 16), or None when they may.
    Administrators are never refused for these reasons: they act on a contact's behalf at any time."""
    if now >= due_at:
        return "due_date_passed"
    if period_closed:
        return "period_closed"
    return None


def may_edit(role: Role, status: str, refusal: Refusal | None) -> bool:
    return status in EDITABLE_STATUSES and (role == "administrator" or refusal is None)
