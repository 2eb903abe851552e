"""What services/claims publishes on `accounts`: requests for a one-time password link."""

from datetime import datetime
from typing import ClassVar

from pydantic import EmailStr

from shared.contracts.base import PublishedEvent
from shared.contracts.topics import ACCOUNTS


class PasswordLinkRequested(PublishedEvent):
    """Someone asked to set or reset their password; the notifier emails them a one-time link.

    The event carries no secret: the link's token is `request_id` and `email` signed with the shared secret
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
