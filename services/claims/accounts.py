"""Accounts: passwords (Argon2id), one-time links to set them, and logins throttled per account and address.

The users themselves come from the ERP's directory (`erp_users`); an account is only their password.
Nothing a person is told depends on whether an email is known, so the pages cannot be used to find users.
"""

import asyncio
import functools
import logging
import uuid
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared import outbox
from shared.contracts.accounts import PasswordLinkRequested
from shared.contracts.base import Person
from shared.erp import find_person, user_id_for_email
from shared.errors import InvalidRequest, NotAllowed, NotAuthenticated, TooManyAttempts
from shared.password_links import LINK_LIFETIME, PasswordLink

MINIMUM_PASSWORD_LENGTH = 10
THROTTLE_WINDOW = timedelta(minutes=15)
FAILURES_PER_ACCOUNT = 5
FAILURES_PER_ADDRESS = 20
LINKS_PER_EMAIL = 3  # more requests within the window send nothing more (the page says the same)
LINK_REQUESTS_PER_ADDRESS = 20

log = logging.getLogger(__name__)

_hasher = PasswordHasher()  # Argon2id with the library's recommended cost


@functools.cache
def _unknown_user_hash() -> str:
    """Checked when the email is unknown, so that an unknown email takes as long to refuse as a wrong password
    (made at the first login, not when the module is imported: `itb` imports it too)."""
    return _hasher.hash("no account has this password")


WRONG_LOGIN = "The email or password is not right. Check both and try again, or set a new password."


def check_new_password(password: str) -> None:
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise InvalidRequest(f"Choose a password of at least {MINIMUM_PASSWORD_LENGTH} characters.")


async def set_password(connection: asyncpg.Connection, user_id: str, password: str, now: datetime) -> None:
    check_new_password(password)
    await connection.execute(
        """
        INSERT INTO accounts (user_id, password_hash, changed_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash, changed_at = excluded.changed_at
        """,
        user_id,
        await asyncio.to_thread(_hasher.hash, password),  # Argon2id takes a while: the service goes on meanwhile
        now,
    )


async def request_password_link(connection: asyncpg.Connection, email: str, address: str, now: datetime) -> None:
    """Announce a one-time link for the user with this email, if there is one and they have not just been sent
    several (the caller says the same either way). Too many requests from one address are refused."""
    address_key = f"link-address:{address}"
    await _refuse_when_throttled(connection, {address_key: LINK_REQUESTS_PER_ADDRESS}, now)
    await _record_attempts(connection, [address_key], now)
    user_id = await user_id_for_email(connection, email)
    person = await find_person(connection, user_id) if user_id else None
    if person is None or await _recent_links(connection, person.id, now) >= LINKS_PER_EMAIL:
        return
    request_id = str(uuid.uuid4())
    await connection.execute(
        "INSERT INTO password_requests (request_id, user_id, requested_at, expires_at) VALUES ($1, $2, $3, $4)",
        uuid.UUID(request_id),
        person.id,
        now,
        now + LINK_LIFETIME,
    )
    await outbox.record(
        connection,
        PasswordLinkRequested(
            request_id=request_id,
            user_id=person.id,
            name=person.name,
            email=person.email,
            requested_at=now,
            expires_at=now + LINK_LIFETIME,
        ),
    )


async def usable_password_request(connection: asyncpg.Connection, link: PasswordLink, now: datetime) -> str:
    """The user id the link is for; NotAllowed when it was used already, has expired, or was sent to an address
    that is not the user's."""
    row = await connection.fetchrow(
        """
        SELECT r.user_id, r.expires_at, r.used_at, u.email
        FROM password_requests r JOIN erp_users u USING (user_id) WHERE r.request_id = $1
        """,
        uuid.UUID(link.request_id),
    )
    if row is None or row["used_at"] is not None or row["expires_at"] <= now:
        raise NotAllowed(
            "This password link has been used already or has expired. Ask for a new one from the login page."
        )
    if row["email"].lower() != link.email.lower():
        raise NotAllowed("This password link was not sent to this account's email address. Ask for a new one.")
    return row["user_id"]


async def use_password_link(connection: asyncpg.Connection, link: PasswordLink, password: str, now: datetime) -> Person:
    """Set the password through the link, once; every other link the user was sent stops working too."""
    await connection.execute(
        "SELECT 1 FROM password_requests WHERE request_id = $1 FOR UPDATE", uuid.UUID(link.request_id)
    )
    user_id = await usable_password_request(connection, link, now)
    await set_password(connection, user_id, password, now)
    await connection.execute(
        "UPDATE password_requests SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL", user_id, now
    )
    person = await find_person(connection, user_id)
    assert person is not None, "a password request is only made for a known user"
    log.info("password set through a link", extra={"user_id": user_id})
    # A new password lifts the lock that failed logins put on the account.
    await connection.execute("DELETE FROM throttled_attempts WHERE throttle_key = $1", _account_key(person.email))
    return person


async def log_in(pool: asyncpg.Pool, email: str, password: str, address: str, now: datetime) -> Person:
    """The user, when the email and password match; TooManyAttempts or NotAuthenticated (one message for an
    unknown email and a wrong password) otherwise."""
    account_key, address_key = _account_key(email), f"address:{address}"
    async with pool.acquire() as connection, connection.transaction():
        # One attempt at a time per account, so that attempts sent all at once are counted too.
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", account_key)
        await _refuse_when_throttled(
            connection, {account_key: FAILURES_PER_ACCOUNT, address_key: FAILURES_PER_ADDRESS}, now
        )
        user_id = await user_id_for_email(connection, email.strip())
        password_hash = (
            await connection.fetchval("SELECT password_hash FROM accounts WHERE user_id = $1", user_id)
            if user_id
            else None
        )
        matches = await asyncio.to_thread(_verify, password_hash, password)
        person = await find_person(connection, user_id) if matches and password_hash and user_id else None
        if person is not None:
            await connection.execute("DELETE FROM throttled_attempts WHERE throttle_key = $1", account_key)
            return person
        await _record_attempts(connection, [account_key, address_key], now)
    raise NotAuthenticated(WRONG_LOGIN)


def _account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


async def _recent_links(connection: asyncpg.Connection, user_id: str, now: datetime) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM password_requests WHERE user_id = $1 AND requested_at > $2",
        user_id,
        now - THROTTLE_WINDOW,
    )


async def _record_attempts(connection: asyncpg.Connection, keys: list[str], now: datetime) -> None:
    await connection.executemany(
        "INSERT INTO throttled_attempts (throttle_key, attempted_at) VALUES ($1, $2)", [(key, now) for key in keys]
    )


async def _refuse_when_throttled(connection: asyncpg.Connection, limits: dict[str, int], now: datetime) -> None:
    """TooManyAttempts when any key has reached its limit within the window."""
    since = now - THROTTLE_WINDOW
    await connection.execute("DELETE FROM throttled_attempts WHERE attempted_at < $1", since)
    counts = dict(
        await connection.fetch(
            """
            SELECT throttle_key, count(*) FROM throttled_attempts
            WHERE throttle_key = ANY($1::text[]) AND attempted_at >= $2 GROUP BY throttle_key
            """,
            list(limits),
            since,
        )
    )
    reached = [key.split(":", 1)[0] for key, limit in limits.items() if counts.get(key, 0) >= limit]
    if reached:
        # Which kind of limit only: an operator sees an attack without the log holding the addresses tried.
        log.warning("attempt refused: too many recent attempts", extra={"limits_reached": reached})
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise TooManyAttempts(f"Too many attempts. Wait {minutes} minutes and try again, or set a new password.")
