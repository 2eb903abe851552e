"""The signed token in an invite's links: bound to one invite, and any altered character invalidates it.

The notifier puts it in the email; the responses service reads it back. It does not expire: what an answer
may do depends on the period's due date, which the responses page checks.
"""

import functools

from itsdangerous import BadData, URLSafeSerializer

from shared.keys import INVITE_LINKS
from shared.settings import Settings

_SALT = "itb.invite.v1"


def invite_token(settings: Settings, invite_id: str) -> str:
    return _serializer(settings).dumps(invite_id)


def read_invite_token(settings: Settings, token: str) -> str:
    """The invite id in the token; raises PermissionError when the token was not made by us or was altered."""
    try:
        return _serializer(settings).loads(token)
    except BadData as error:
        raise PermissionError("This invite link is not valid: it may have been altered or cut short.") from error


def _serializer(settings: Settings) -> URLSafeSerializer:
    return _serializer_for(tuple(settings.purpose_keys(INVITE_LINKS)))


@functools.lru_cache(maxsize=4)
def _serializer_for(keys: tuple[bytes, ...]) -> URLSafeSerializer:
    """Made once per set of keys (it is read on every request for the invite page)."""
    return URLSafeSerializer(list(keys), salt=_SALT)


def invite_url(settings: Settings, invite_id: str, answer: str | None = None) -> str:
    url = f"{settings.responses_public_url.rstrip('/')}/invites/{invite_token(settings, invite_id)}"
    return f"{url}?answer={answer}" if answer else url
