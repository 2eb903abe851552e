"""The one-time link that lets a person set or reset their password.

The claims service records a request and announces it (PasswordLinkRequested); the notifier emails the link;
the claims service accepts the link once, before the request expires. The token is the request id and the
address it was sent to, signed with the password links' key (`shared.keys`): the event on Kafka carries
nothing that opens an account by itself, and a link sent anywhere but to the user's own address is refused.
"""

from datetime import timedelta
from typing import NamedTuple

from itsdangerous import BadData, URLSafeSerializer

from shared.keys import PASSWORD_LINKS
from shared.settings import Settings

_SALT = "itb.password-link.v1"
LINK_LIFETIME = timedelta(hours=1)


class PasswordLink(NamedTuple):
    request_id: str
    email: str  # where the link was sent


def password_link_token(settings: Settings, request_id: str, email: str) -> str:
    return URLSafeSerializer(settings.purpose_keys(PASSWORD_LINKS), salt=_SALT).dumps([request_id, email])


def read_password_link_token(settings: Settings, token: str) -> PasswordLink:
    """What the token stands for; raises PermissionError when the token was not made by us or was altered."""
    try:
        request_id, email = URLSafeSerializer(settings.purpose_keys(PASSWORD_LINKS), salt=_SALT).loads(token)
    except (BadData, ValueError, TypeError) as error:
        raise PermissionError("This password link is not valid: it may have been altered or cut short.") from error
    return PasswordLink(str(request_id), str(email))


def password_link_url(settings: Settings, request_id: str, email: str) -> str:
    return f"{settings.claims_public_url.rstrip('/')}/password/{password_link_token(settings, request_id, email)}"
