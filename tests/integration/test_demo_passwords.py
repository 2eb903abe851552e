"""The demo users' passwords that `itb up` sets in the claims database and prints."""

import pytest
from argon2 import PasswordHasher

from deploy.demo import MEMBERS, demo_logins, demo_passwords, give_demo_passwords
from deploy.seeding import saved_demo_passwords
from tests.integration.test_itb_commands import add_user


def test_every_demo_user_with_an_email_gets_a_password_long_enough_to_be_accepted():
    passwords = demo_passwords({})

    assert sorted(passwords) == sorted(email for _, _, email, _, _ in MEMBERS)
    assert all(len(password) >= 10 for password in passwords.values())
    assert len(set(passwords.values())) == len(passwords)


def test_saved_passwords_are_kept_and_only_missing_ones_are_made():
    [first, second, *_] = [email for email, _, _ in demo_logins()]

    passwords = demo_passwords({first: "the saved password", "someone.gone@acme.example": "old"})

    assert passwords[first] == "the saved password"
    assert passwords[second] != "the saved password"
    assert "someone.gone@acme.example" not in passwords


def test_the_passwords_file_is_reused_and_readable_only_by_its_owner(tmp_path):
    passwords_file = tmp_path / "demo_passwords.json"
    passwords_file.write_text("{}")
    passwords_file.chmod(0o644)

    first = saved_demo_passwords(passwords_file)

    assert saved_demo_passwords(passwords_file) == first
    assert passwords_file.stat().st_mode & 0o777 == 0o600


async def test_demo_passwords_are_set_once_the_claims_service_knows_the_users(database_for):
    database = await database_for("claims")
    for user_id, name, email, _, _ in MEMBERS:
        await add_user(database.pool, user_id, name, email)
    passwords = demo_passwords({})

    await give_demo_passwords(database.url, passwords)

    for user_id, _, email, _, _ in MEMBERS:
        password_hash = await database.pool.fetchval("SELECT password_hash FROM accounts WHERE user_id = $1", user_id)
        assert PasswordHasher().verify(password_hash, passwords[email])


async def test_demo_users_that_never_arrive_are_named_in_the_error(database_for):
    database = await database_for("claims")
    user_id, name, email, _, _ = MEMBERS[0]
    await add_user(database.pool, user_id, name, email)

    with pytest.raises(RuntimeError) as refused:
        await give_demo_passwords(database.url, demo_passwords({}), within=0.5)

    assert "has not stored the demo users sam.standard@acme.example, robin.readonly@acme.example" in str(refused.value)
    assert email not in str(refused.value)
    assert await database.pool.fetchval("SELECT count(*) FROM accounts") == 0
