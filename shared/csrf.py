"""CSRF tokens for the pages' forms: signed, bound to what the form acts on, and expiring."""

from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.settings import Settings

_SALT = "itb.csrf.v1"
MAX_AGE_SECONDS = 24 * 60 * 60


def csrf_token(settings: Settings, bound_to: str) -> str:
    return URLSafeTimedSerializer(settings.secret_key, salt=_SALT).dumps(bound_to)


def csrf_token_is_valid(settings: Settings, token: str | None, bound_to: str) -> bool:
    if not token:
        return False
    try:
        return URLSafeTimedSerializer(settings.secret_key, salt=_SALT).loads(token, max_age=MAX_AGE_SECONDS) == bound_to
    except BadSignature:
        return False
