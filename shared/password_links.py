"""The one-time link that lets a person set or reset their password.

The claims service records a request and announces it (PasswordLinkRequested); the notifier emails the link;
the claims service accepts the link once, before the request expires. The token is the request id signed
with the shared secret, so the event on Kafka carries nothing that opens an account by itself.
"""

from datetime import timedelta

from itsdangerous import BadData, URLSafeSerializer

from shared.settings import Settings

_SALT = "itb.password-link.v1"
LINK_LIFETIME = timedelta(hours=1)


def password_link_token(settings: Settings, request_id: str) -> str:
    return URLSafeSerializer(settings.secret_key, salt=_SALT).dumps(request_id)


def read_password_link_token(settings: Settings, token: str) -> str:
    """The request id in the token; raises PermissionError when the token was not made by us or was altered."""
    try:
        return URLSafeSerializer(settings.secret_key, salt=_SALT).loads(token)
    except BadData as error:
        raise PermissionError("This password link is not valid: it may have been altered or cut short.") from error


def password_link_url(settings: Settings, request_id: str) -> str:
    return f"{settings.claims_public_url.rstrip('/')}/password/{password_link_token(settings, request_id)}"
