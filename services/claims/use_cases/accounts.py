"""Accounts: passwords (Argon2id), one-time links to set them, logins throttled per account and address, and
the end of an account's sessions (a logout, a password set through a link), announced to every service.

The users themselves come from the ERP's directory (`erp_users`); an account is only their password.
Nothing a person is told depends on whether an email is known, so the pages cannot be used to find users.
"""

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.claims.domain.accounts import (
    FAILURES_PER_ACCOUNT,
    FAILURES_PER_ADDRESS,
    LINK_REQUESTS_PER_ADDRESS,
    LINKS_PER_EMAIL,
    THROTTLE_WINDOW,
    WRONG_LOGIN,
    check_new_password,
    check_password_length,
    limits_reached,
    usable_by,
)
from services.claims.repository import accounts as repository
from shared import outbox
from shared.contracts.accounts import PasswordLinkRequested, SessionsEnded
from shared.contracts.base import Person
from shared.erp import find_person, user_id_for_email
from shared.errors import NotAuthenticated, TooManyAttempts
from shared.metrics import ServiceMetrics
from shared.password_links import LINK_LIFETIME, PasswordLink
from shared.session_versions import end_sessions, session_version

log = logging.getLogger(__name__)

_hasher = PasswordHasher()  # Argon2id with the library's recommended cost
# Each hash takes tens of milliseconds and 64 MiB, in a thread so the service goes on meanwhile: a burst of
# logins waits its turn here rather than filling the memory and the threads every request needs.
_HASHES_AT_ONCE = 2
_hashing = asyncio.Semaphore(_HASHES_AT_ONCE)


@dataclass(frozen=True)
class LoggedIn:
    """Who logged in, and the account's session version their new session must carry."""

    person: Person
    session_version: int


@functools.cache
def _unknown_user_hash() -> str:
    """Checked when the email is unknown, so that an unknown email takes as long to refuse as a wrong password
    (made at the first login, not when the module is imported: `itb` imports it too)."""
    return _hasher.hash("no account has this password")


async def set_password(connection: asyncpg.Connection, user_id: str, password: str, now: datetime) -> None:
    """In the caller's transaction: `itb users set-password` and the demo find the user in theirs first.
    Sessions go on: a person's own new password ends them (`use_password_link`)."""
    check_new_password(password)
    async with _hashing:
        password_hash = await asyncio.to_thread(_hasher.hash, password)
    await repository.save_password_hash(connection, user_id, password_hash, now)


async def log_out(pool: asyncpg.Pool, user_id: str, now: datetime) -> None:
    """End every session of the account, on this browser and any other, on every service."""
    async with pool.acquire() as connection, connection.transaction():
        await _end_sessions(connection, user_id, "logged_out", now)


async def _end_sessions(connection: asyncpg.Connection, user_id: str, reason: str, now: datetime) -> int:
    """The account's next session version, announced; sessions made before it are refused from now on here,
    and elsewhere once SessionsEnded arrives (`shared.sessions` says why that window was chosen)."""
    version = await end_sessions(connection, user_id, now)
    await outbox.record(
        connection, SessionsEnded(user_id=user_id, session_version=version, ended_at=now, reason=reason)
    )
    log.info("sessions ended", extra={"user_id": user_id, "reason": reason})
    return version


async def request_password_link(pool: asyncpg.Pool, email: str, address: str, now: datetime) -> None:
    """Announce a one-time link for the user with this email, if there is one and they have not just been sent
    several (the caller says the same either way). Too many requests from one address are refused."""
    address_key = f"link-address:{address}"
    async with pool.acquire() as connection, connection.transaction():
        # One request at a time per address, so that requests sent all at once are counted too.
        await repository.lock_throttle_key(connection, address_key)
        await _refuse_when_throttled(connection, {address_key: LINK_REQUESTS_PER_ADDRESS}, now)
        await repository.record_attempts(connection, [address_key], now)
        user_id = await user_id_for_email(connection, email)
        person = await find_person(connection, user_id) if user_id else None
        if person is None:
            return
        if await repository.links_sent_since(connection, person.id, now - THROTTLE_WINDOW) >= LINKS_PER_EMAIL:
            return
        request_id = str(uuid.uuid4())
        await repository.add_password_request(connection, request_id, person.id, now, now + LINK_LIFETIME)
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


async def usable_password_request(pool: asyncpg.Pool, link: PasswordLink, now: datetime) -> str:
    """The user id the link is for; NotAllowed when it cannot be used (`domain.accounts.usable_by`)."""
    async with pool.acquire() as connection:
        return usable_by(await repository.find_password_request(connection, link.request_id), link.email, now)


async def use_password_link(pool: asyncpg.Pool, link: PasswordLink, password: str, now: datetime) -> LoggedIn:
    """Set the password through the link, once; every other link the user was sent stops working too, and so
    does every session made before (whoever knew the old password is logged out everywhere)."""
    async with pool.acquire() as connection, connection.transaction():
        request = await repository.find_password_request(connection, link.request_id, lock=True)
        user_id = usable_by(request, link.email, now)
        await set_password(connection, user_id, password, now)
        await repository.mark_links_used(connection, user_id, now)
        person = await find_person(connection, user_id)
        assert person is not None, "a password request is only made for a known user"
        log.info("password set through a link", extra={"user_id": user_id})
        # A new password lifts the lock that failed logins put on the account.
        await repository.forget_attempts(connection, _account_key(person.email))
        return LoggedIn(person, await _end_sessions(connection, user_id, "password_set", now))


async def log_in(
    pool: asyncpg.Pool, email: str, password: str, address: str, now: datetime, metrics: ServiceMetrics
) -> LoggedIn:
    """The user, when the email and password match; TooManyAttempts or NotAuthenticated (one message for an
    unknown email and a wrong password) otherwise, each counted in the service's metrics."""
    check_password_length(password)
    account_key, address_key = _account_key(email), f"address:{address}"
    attempt_id = str(uuid.uuid4())
    async with pool.acquire() as connection, connection.transaction():
        # Counted as a failure before the password is checked, one attempt at a time per address and per account:
        # attempts sent all at once are all counted, and the slow check runs outside the locks, so the people
        # behind one office's address do not log in one after another. Always the address first: no attempt
        # waits for an address while holding an account, so no two attempts can wait for each other.
        await repository.lock_throttle_key(connection, address_key)
        await repository.lock_throttle_key(connection, account_key)
        await _refuse_when_throttled(
            connection, {account_key: FAILURES_PER_ACCOUNT, address_key: FAILURES_PER_ADDRESS}, now, metrics
        )
        await repository.record_attempts(connection, [account_key, address_key], now, attempt_id)
        user_id = await user_id_for_email(connection, email.strip())
        password_hash = await repository.password_hash(connection, user_id) if user_id else None
    async with _hashing:
        matches = await asyncio.to_thread(_verify, password_hash, password)
    if not (matches and password_hash and user_id):
        metrics.logins_refused.inc()
        raise NotAuthenticated(WRONG_LOGIN)
    async with pool.acquire() as connection, connection.transaction():
        person = await find_person(connection, user_id)
        if person is None:
            metrics.logins_refused.inc()
            raise NotAuthenticated(WRONG_LOGIN)
        # Not a failure after all; and a login lifts the lock that failures put on the account.
        await repository.forget_attempt(connection, attempt_id)
        await repository.forget_attempts(connection, account_key)
        return LoggedIn(person, await session_version(connection, person.id))


def _account_key(email: str) -> str:
    return f"account:{email.strip().lower()}"


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _unknown_user_hash(), password)
    except (VerificationError, InvalidHashError):
        return False


async def _refuse_when_throttled(
    connection: asyncpg.Connection, limits: dict[str, int], now: datetime, metrics: ServiceMetrics | None = None
) -> None:
    """TooManyAttempts when any key has reached its limit within the window (counted as a lockout in the service's
    `metrics` when given: for a login)."""
    counts = await repository.attempts_since(connection, list(limits), now - THROTTLE_WINDOW)
    reached = [key.split(":", 1)[0] for key in limits_reached(limits, counts)]
    if reached:
        if metrics:
            for locked in reached:
                metrics.lockouts.labels(locked).inc()
        # Which kind of limit only: an operator sees an attack without the log holding the addresses tried.
        log.warning("attempt refused: too many recent attempts", extra={"limits_reached": reached})
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise TooManyAttempts(f"Too many attempts. Wait {minutes} minutes and try again, or set a new password.")
