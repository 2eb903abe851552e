"""Answering "Do you want to bill this period?" (DESIGN.md rules 10 to 12), free of I/O."""

from dataclasses import dataclass
from datetime import date, datetime

from shared.errors import Conflict, NotAllowed


@dataclass(frozen=True)
class InviteToAnswer:
    """An invite as the answer page sees it, with the period's current due date and state."""

    invite_id: str
    period_id: str
    project_id: str
    project_name: str
    project_timezone: str
    commitment_id: str
    commitment_number: str
    commitment_title: str
    vendor_name: str
    contact_user_id: str
    contact_name: str
    contact_email: str
    invited_by_name: str
    invited_by_email: str
    start_date: date
    end_date: date
    due_date: date
    due_at: datetime
    period_status: str
    answer: str | None

    def due_date_has_passed(self, now: datetime) -> bool:
        return now >= self.due_at

    def ask_the_contractor(self) -> str:
        return f"ask {self.invited_by_name} ({self.invited_by_email})"


def decide(invite: InviteToAnswer, answer: str, now: datetime, may_answer: bool, designated: bool) -> bool:
    """Whether `answer` is recorded now: True for a change, False when it was already given (a double click).

    Raises NotAllowed or Conflict, saying why, when it cannot be recorded at all.
    """
    if invite.period_status != "open":
        raise Conflict(
            f"The billing period {invite.start_date:%d %b %Y} to {invite.end_date:%d %b %Y} is closed, so answers "
            f"can no longer be recorded. If you need to bill it, {invite.ask_the_contractor()}."
        )
    if not may_answer:
        raise NotAllowed(
            f"Your answer cannot be recorded because you no longer have Read Only (or higher) permission on the "
            f"Commitments tool of {invite.project_name}. To regain it, {invite.ask_the_contractor()}."
        )
    if not designated:
        raise NotAllowed(
            f"Your answer cannot be recorded because you are no longer a progress claim contact of "
            f"{invite.commitment_number} {invite.commitment_title}. If you should be, {invite.ask_the_contractor()}."
        )
    if invite.answer == answer:
        return False
    if answer == "yes" and invite.due_date_has_passed(now):
        raise Conflict(
            "The due date for this billing period has passed, so no progress claim can be submitted for it. "
            f"To have a claim created on your behalf, {invite.ask_the_contractor()}."
        )
    if invite.answer == "yes":
        raise Conflict(
            "You have already said Yes to billing this period, and that answer stands. "
            f"If you no longer want to bill, {invite.ask_the_contractor()}."
        )
    return True
