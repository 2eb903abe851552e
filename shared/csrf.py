"""CSRF tokens for the pages' forms: signed with the CSRF key, bound to what the form acts on (and, on forms
used before login, to the browser), and expiring."""

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.keys import CSRF_TOKENS
from shared.settings import Settings

_SALT = "itb.csrf.v1"
MAX_AGE_SECONDS = 24 * 60 * 60


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.purpose_keys(CSRF_TOKENS), salt=_SALT)


def csrf_token(settings: Settings, bound_to: str) -> str:
    return _serializer(settings).dumps(bound_to)


def csrf_token_is_valid(settings: Settings, token: str | None, bound_to: str) -> bool:
    if not token:
        return False
    try:
        return _serializer(settings).loads(token, max_age=MAX_AGE_SECONDS) == bound_to
    except BadSignature:
        return False
