"""`itb users set-password` and `itb token` against real service databases, found as `itb` finds them."""

import asyncio
import io
import json
from datetime import UTC, datetime

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from deploy.cli import main
from deploy.embedded import free_port
from shared.sessions import read_session_token
from shared.settings import Settings

JANE = ("U-9", "Jane Citizen", "jane@concreteco.example")
NEW_PASSWORD = "correct horse battery"


async def add_user(pool, user_id: str, name: str, email: str) -> None:
    await pool.execute(
        "INSERT INTO erp_users (user_id, name, email, event_time) VALUES ($1, $2, $3, $4)",
        user_id,
        name,
        email,
        datetime(2026, 11, 1, tzinfo=UTC),
    )


@pytest.fixture
def no_running_stack(monkeypatch, tmp_path):
    """A state folder without a stack file, and no database or secret from the environment of the test run."""
    monkeypatch.setenv("ITB_STATE_DIR", str(tmp_path))
    for name in ("DATABASE_URL", "DATABASE_NAME", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def point_at(monkeypatch, database_url: str) -> None:
    """DATABASE_URL names the server; DATABASE_NAME the test's own database, as it would for the service."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATABASE_NAME", database_url.rsplit("/", 1)[1])


@pytest.fixture
async def claims(database_for, no_running_stack, monkeypatch):
    database = await database_for("claims")
    await add_user(database.pool, *JANE)
    point_at(monkeypatch, database.url)
    return database


async def itb(monkeypatch, *arguments: str, stdin: str = "") -> int:
    """Run `itb` as a person would, in a thread of its own (it runs its own event loop)."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return await asyncio.to_thread(main, list(arguments))


async def stored_hash(pool, user_id: str) -> str | None:
    return await pool.fetchval("SELECT password_hash FROM accounts WHERE user_id = $1", user_id)


async def test_set_password_stores_an_argon2_hash_of_the_password_read_from_stdin(claims, monkeypatch, capsys):
    exit_code = await itb(
        monkeypatch, "users", "set-password", "jane@concreteco.example", "--password-stdin", stdin=NEW_PASSWORD + "\n"
    )

    assert exit_code == 0
    assert capsys.readouterr().out == "Password set for jane@concreteco.example.\n"
    password_hash = await stored_hash(claims.pool, "U-9")
    assert PasswordHasher().verify(password_hash, NEW_PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(password_hash, NEW_PASSWORD + "\n")


async def test_set_password_replaces_the_old_password(claims, monkeypatch):
    for password in ("the first password", NEW_PASSWORD):
        assert await itb(monkeypatch, "users", "set-password", JANE[2], "--password-stdin", stdin=password) == 0

    password_hash = await stored_hash(claims.pool, "U-9")
    assert PasswordHasher().verify(password_hash, NEW_PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(password_hash, "the first password")


async def test_set_password_asks_twice_without_showing_it(claims, monkeypatch, capsys):
    typed = iter([NEW_PASSWORD, NEW_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))

    assert await itb(monkeypatch, "users", "set-password", JANE[2]) == 0
    assert PasswordHasher().verify(await stored_hash(claims.pool, "U-9"), NEW_PASSWORD)
    shown = capsys.readouterr()
    assert NEW_PASSWORD not in shown.out + shown.err


async def test_production_settings_without_a_secret_get_a_message_not_a_traceback(claims, monkeypatch, capsys):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert await itb(monkeypatch, "users", "set-password", JANE[2], "--password-stdin", stdin=NEW_PASSWORD) == 2
    assert capsys.readouterr().err.startswith("itb: the settings are not valid: SECRET_KEY is the development default")


async def test_passwords_typed_differently_are_refused_and_nothing_is_stored(claims, monkeypatch, capsys):
    typed = iter([NEW_PASSWORD, NEW_PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))

    assert await itb(monkeypatch, "users", "set-password", JANE[2]) == 2
    assert capsys.readouterr().err.startswith("itb: The two passwords differ;")
    assert await stored_hash(claims.pool, "U-9") is None


async def test_an_unknown_email_is_refused_with_exit_code_2(claims, monkeypatch, capsys):
    exit_code = await itb(
        monkeypatch, "users", "set-password", "nobody@concreteco.example", "--password-stdin", stdin=NEW_PASSWORD
    )

    assert exit_code == 2
    assert capsys.readouterr().err.startswith("itb: No user with the email nobody@concreteco.example is known;")
    assert await claims.pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_a_password_shorter_than_ten_characters_is_refused(claims, monkeypatch, capsys):
    exit_code = await itb(monkeypatch, "users", "set-password", JANE[2], "--password-stdin", stdin="too short\n")

    assert exit_code == 2
    assert capsys.readouterr().err == "itb: Choose a password of at least 10 characters.\n"
    assert await stored_hash(claims.pool, "U-9") is None


async def test_an_unreachable_database_is_reported_without_a_traceback(no_running_stack, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")

    exit_code = await itb(monkeypatch, "users", "set-password", JANE[2], "--password-stdin", stdin=NEW_PASSWORD)

    assert exit_code == 2
    error = capsys.readouterr().err
    assert error.startswith("itb: Cannot reach the claims database (")
    assert "start the stack with `itb up`" in error
    assert "Traceback" not in error


async def test_the_database_is_the_one_the_running_stack_wrote_in_its_state_folder(
    database_for, no_running_stack, monkeypatch
):
    database = await database_for("claims")
    await add_user(database.pool, *JANE)
    (no_running_stack / "stack.json").write_text(json.dumps({"database_url": database.url}))
    monkeypatch.setenv("DATABASE_NAME", database.url.rsplit("/", 1)[1])

    assert await itb(monkeypatch, "users", "set-password", JANE[2], "--password-stdin", stdin=NEW_PASSWORD) == 0
    assert PasswordHasher().verify(await stored_hash(database.pool, "U-9"), NEW_PASSWORD)


async def test_token_is_signed_with_the_stacks_secret_for_the_user_in_the_periods_database(
    database_for, no_running_stack, monkeypatch, capsys
):
    database = await database_for("periods")
    await add_user(database.pool, *JANE)
    point_at(monkeypatch, database.url)
    (no_running_stack / "secret_key").write_text("the stack's secret\n")

    assert await itb(monkeypatch, "token", JANE[2]) == 0

    token = capsys.readouterr().out.strip()
    session = read_session_token(Settings(secret_key="the stack's secret"), token)
    assert (session.user_id, session.email) == ("U-9", JANE[2])


async def test_a_damaged_stack_file_gets_a_message_saying_what_to_do(no_running_stack, monkeypatch, capsys):
    (no_running_stack / "stack.json").write_text("{half a file")
    assert await itb(monkeypatch, "token", JANE[2]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"itb: {no_running_stack / 'stack.json'} is damaged") and "itb up --fresh" in error


@pytest.mark.parametrize("replicas", ["0", "9", "two"])
def test_up_refuses_a_number_of_replicas_it_cannot_run_saying_which_it_can(replicas, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["up", "--replicas", replicas])
    assert exit.value.code == 2
    assert f"give a whole number of processes from 1 to 8, not '{replicas}'" in capsys.readouterr().err
