"""Answering "Do you want to bill this period?" (docs/architecture.md, rules 10 to 12), free of I/O."""

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from shared.contracts.invites import Invite
from shared.contracts.responses import DeclineReason
from shared.errors import Conflict, InvalidRequest, NotAllowed

# The choices a No's reason offers (rule 18a), in the page's order, with the words the page shows.
DECLINE_REASONS = {
    "no_work_this_period": "No work this period",
    "work_complete": "Work complete",
    "in_dispute": "In dispute",
    "other": "Other",
}
OTHER_TEXT_LIMIT = 500


class ReasonNotAccepted(InvalidRequest):
    """A No's reason that cannot be kept as given; `field` names the form field the sentence belongs beside."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def decline_reason(code: str, text: str) -> DeclineReason | None:
    """The optional reason for a No (rule 18a) from the page's fields, or None when none was chosen.

    Words typed without a choice are taken as Other; words beside another choice are not kept. Other's words are
    trimmed, at most 500 characters, and hold no control characters. Raises ReasonNotAccepted, saying why."""
    text = text.strip()
    code = code.strip() or ("other" if text else "")
    if not code:
        return None
    if code not in DECLINE_REASONS:
        raise ReasonNotAccepted(
            "That reason is not one of the choices. Choose No work this period, Work complete, In dispute or "
            "Other, or leave the reason out.",
            "reason",
        )
    if code != "other":
        return DeclineReason(code=code)
    if len(text) > OTHER_TEXT_LIMIT:
        raise ReasonNotAccepted(
            f"Your reason is {len(text)} characters long. Please shorten it to {OTHER_TEXT_LIMIT} characters or fewer.",
            "reason_text",
        )
    if any(unicodedata.category(character) == "Cc" for character in text):
        raise ReasonNotAccepted(
            "Your reason holds a line break, tab or other control character. Please write it on one line.",
            "reason_text",
        )
    return DeclineReason(code="other", text=text or None)


@dataclass(frozen=True)
class InviteToAnswer:
    """An invite as the answer page sees it: its due date is the period's current one (rule 4)."""

    invite: Invite
    period_closed: bool
    answer: str | None
    decline_reason: DeclineReason | None = None

    def due_date_has_passed(self, now: datetime) -> bool:
        return self.invite.due_date_has_passed(now)

    def may_say_yes(self, now: datetime) -> bool:
        """Yes is offered while the period is open, before the due date (rule 12), until it is given (rule 11)."""
        return not self.period_closed and not self.due_date_has_passed(now) and self.answer != "yes"

    def ask_the_contractor(self) -> str:
        return f"ask {self.invite.invited_by.name} ({self.invite.invited_by.email})"


def decide(
    invite: InviteToAnswer,
    answer: str,
    now: datetime,
    may_answer: bool,
    designated: bool,
    reason: DeclineReason | None = None,
) -> bool:
    """Whether `answer` is recorded now: True for a change, False when it was already given (a double click).

    A No given again with a reason it did not have is a change (rule 18a): the contact came back to say why.

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
    if invite.answer == answer and (answer == "yes" or reason is None or reason == invite.decline_reason):
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
