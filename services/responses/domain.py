"""Answering "Do you want to bill this period?" (docs/architecture.md, rules 10 to 12), free of I/O."""

from dataclasses import dataclass
from datetime import datetime

from shared.contracts.invites import Invite
from shared.errors import Conflict, NotAllowed


@dataclass(frozen=True)
class InviteToAnswer:
    """An invite as the answer page sees it: its due date is the period's current one (rule 4)."""

    invite: Invite
    period_closed: bool
    answer: str | None

    def due_date_has_passed(self, now: datetime) -> bool:
        return self.invite.due_date_has_passed(now)

    def may_say_yes(self, now: datetime) -> bool:
        """Yes is offered while the period is open, before the due date (rule 12), until it is given (rule 11)."""
        return not self.period_closed and not self.due_date_has_passed(now) and self.answer != "yes"

    def ask_the_contractor(self) -> str:
        return f"ask {self.invite.invited_by.name} ({self.invite.invited_by.email})"


def decide(invite: InviteToAnswer, answer: str, now: datetime, may_answer: bool, designated: bool) -> bool:
    """Whether `answer` is recorded now: True for a change, False when it was already given (a double click).

    Raises NotAllowed or Conflict, saying why, when it cannot be recorded at all (rules 10 to 12).
    """
    details = invite.invite
    if invite.period_closed:
        raise Conflict(
            f"The billing period {details.start_date:%d %b %Y} to {details.end_date:%d %b %Y} is closed, so answers "
            f"can no longer be recorded. If you need to bill it, {invite.ask_the_contractor()}."
        )
    if not may_answer:
        raise NotAllowed(
            f"Your answer cannot be recorded because you no longer have Read Only (or higher) permission on the "
            f"Commitments tool of {details.project_name}. To regain it, {invite.ask_the_contractor()}."
        )
    if not designated:
        raise NotAllowed(
            f"Your answer cannot be recorded because you are no longer a progress claim contact of "
            f"{details.commitment.number} {details.commitment.title}. If you should be, "
            f"{invite.ask_the_contractor()}."
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
