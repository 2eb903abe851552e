"""The keys that sign what the services hand out: one per purpose, so a token made for one is useless for another.

Invite links, password links and CSRF tokens are signed with keys derived from SECRET_KEY (HKDF, one per
purpose). Sessions are signed with an Ed25519 private key that only the claims service holds; every service
checks them with the public key. Keys are written as the URL-safe base64 of their 32 bytes, one line each, so
they fit in an environment variable: `python -m shared.keys` prints a fresh set for production.

In development the session key pair is derived from SECRET_KEY as well, so `itb up` and the tests need no
settings; that is for development only, since anything holding SECRET_KEY could then sign sessions.
"""

import base64
import functools
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

INVITE_LINKS = "invite links"
PASSWORD_LINKS = "password links"
CSRF_TOKENS = "csrf tokens"
_DEVELOPMENT_SESSIONS = "development-only session signing"


@functools.cache
def purpose_key(secret: str, purpose: str) -> bytes:
    """The key for one purpose, derived from a secret: knowing one purpose's key tells nothing of another's."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"invite-to-bill {purpose}".encode()).derive(
        secret.encode()
    )


def development_session_key(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(purpose_key(secret, _DEVELOPMENT_SESSIONS))


@functools.cache
def session_private_key(text: str) -> Ed25519PrivateKey:
    """The key written as `python -m shared.keys` prints it; ValueError saying what is wrong otherwise."""
    return Ed25519PrivateKey.from_private_bytes(_key_bytes(text, "SESSION_PRIVATE_KEY"))


@functools.cache
def session_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_key_bytes(text, "SESSION_PUBLIC_KEY"))


def key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    if isinstance(key, Ed25519PrivateKey):
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    else:
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _key_bytes(text: str, setting: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            f"{setting} is not a key written as `python -m shared.keys` prints it (the URL-safe base64 of 32 "
            "bytes); make a new pair with that command."
        )
    return raw


def new_production_keys() -> dict[str, str]:
    """A fresh SECRET_KEY, session key pair and database passwords (URL-safe: they go in database URLs), as
    environment variables."""
    private = Ed25519PrivateKey.generate()
    passwords = {f"{name}_PASSWORD": secrets.token_urlsafe(24) for name in DATABASE_PASSWORDS}
    return {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SESSION_PRIVATE_KEY": key_text(private),
        "SESSION_PUBLIC_KEY": key_text(private.public_key()),
        **passwords,
    }


# docker-compose.yml's PostgreSQL: the server's own superuser, and the role of each service (deploy/postgres/).
DATABASE_PASSWORDS = ("POSTGRES", "PERIODS_DB", "NOTIFIER_DB", "RESPONSES_DB", "CLAIMS_DB")


if __name__ == "__main__":
    print("# SECRET_KEY and SESSION_PUBLIC_KEY for every service; SESSION_PRIVATE_KEY for the claims service only;")
    print("# the PostgreSQL superuser's password, and each service's own database role's.")
    for name, value in new_production_keys().items():
        print(f"{name}={value}")
