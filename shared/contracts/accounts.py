"""What services/claims publishes on `accounts`: requests for a one-time password link, and ended sessions."""

from datetime import datetime
from typing import ClassVar

from pydantic import EmailStr, Field

from shared.contracts.base import PublishedEvent
from shared.contracts.topics import ACCOUNTS


class PasswordLinkRequested(PublishedEvent):
    """Someone asked to set or reset their password; the notifier emails them a one-time link.

    The event carries no secret: the link's token is `request_id` and `email` signed with the password links' key
    (`shared.password_links`), and the claims service accepts it once, before `expires_at`, for that address."""

    TYPE: ClassVar[str] = "accounts.password_link_requested.v1"
    PUBLISHER: ClassVar[str] = "claims"
    TOPIC: ClassVar[str] = ACCOUNTS
    AGGREGATE_TYPE: ClassVar[str] = "user"
    AGGREGATE_ID: ClassVar[str] = "user_id"

    request_id: str
    user_id: str
    name: str
    email: EmailStr
    requested_at: datetime
    expires_at: datetime


class SessionsEnded(PublishedEvent):
    """Every session of the account made before now has ended: the person logged out, or their password was set
    or reset. Sessions carry the account's session version; every service keeps the newest it has heard of
    (`shared.session_versions`) and refuses sessions with an older one."""

    TYPE: ClassVar[str] = "accounts.sessions_ended.v1"
    PUBLISHER: ClassVar[str] = "claims"
    TOPIC: ClassVar[str] = ACCOUNTS
    AGGREGATE_TYPE: ClassVar[str] = "user"
    AGGREGATE_ID: ClassVar[str] = "user_id"

    user_id: str = Field(min_length=1)
    session_version: int = Field(ge=1, description="Sessions made with a lower version are ended.")
    ended_at: datetime
    reason: str = Field(description="`logged_out` or `password_set`; for the log, not for decisions.")
