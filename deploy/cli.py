"""`itb`: everything a person runs by hand (start the stack, read its mail, get a session token, set a
password)."""

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from pydantic import ValidationError

from deploy.caught_mail import NoSuchMessage
from deploy.embedded import SHARED_FOLDER
from deploy.operators.dead_letters import add_dead_letters_command, run_dead_letters_command
from deploy.operators.events import add_events_command, run_events_command
from deploy.operators.lag import add_lag_command, run_lag_command
from deploy.operators.outbox import add_outbox_command, run_outbox_command
from services.claims.domain.accounts import check_new_password
from services.claims.use_cases.accounts import set_password
from shared.erp import user_id_for_email
from shared.errors import InvalidRequest
from shared.session_versions import session_version
from shared.sessions import issue_session_token
from shared.settings import Settings

# More processes than this of each service only crowd one machine.
MAX_REPLICAS = 8


class UnknownUser(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="itb", description="Invite to Bill: run and inspect the system.")
    commands = parser.add_subparsers(dest="command", required=True)
    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state-dir",
        type=Path,
        help="where `itb up` keeps state, mail and logs (default .state, or ITB_STATE_DIR)",
    )

    up = commands.add_parser(
        "up",
        parents=[state],
        help="start the whole system with demo data, in the foreground",
        description=(
            "Start the whole system with demo data, in the foreground. When root runs it, PostgreSQL runs as the "
            "user 'nobody', and if that user cannot reach the state folder, PostgreSQL's data is kept in "
            f"{SHARED_FOLDER}/data-<hash of the state folder>/postgres instead; the start-up output says where."
        ),
    )
    up.add_argument("--fresh", action="store_true", help="throw away the saved state first, PostgreSQL's data included")
    up.add_argument(
        "--no-demo", dest="demo", action="store_false", help="publish no demo data and open no demo period (benchmarks)"
    )
    up.add_argument(
        "--replicas",
        type=_replica_count,
        default=1,
        metavar="N",
        help=(
            "run N processes of each service, on N adjacent HTTP ports from the service's own (ITB_<SERVICE>_PORT; "
            "unset, the services take theirs in turn from 8081, N each); links in emails lead to the first (default 1)"
        ),
    )

    commands.add_parser(
        "init", help="create the Kafka topics and migrate every service's database (DATABASE_URL, KAFKA_...)"
    )

    mail = commands.add_parser("mail", help="read the mail the local stack caught")
    mail_commands = mail.add_subparsers(dest="mail_command", required=True)
    mail_commands.add_parser("list", parents=[state], help="list every message, numbered")
    show = mail_commands.add_parser("show", parents=[state], help="show one message")
    show.add_argument("number", type=int)

    token = commands.add_parser("token", parents=[state], help="print a session token for a known user")
    token.add_argument("email")

    users = commands.add_parser("users", help="manage the users' accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    password = users_commands.add_parser(
        "set-password", parents=[state], help="set a user's password for logging in to the claims pages"
    )
    password.add_argument("email")
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin (for scripts)"
    )

    add_outbox_command(commands, [state])
    add_events_command(commands, [state])
    add_dead_letters_command(commands, [state])
    add_lag_command(commands, [state])

    arguments = parser.parse_args(argv)
    try:
        return _COMMANDS[arguments.command](arguments)
    # PermissionError: `itb token` where this machine holds no key to sign sessions (only the claims service's).
    except (RuntimeError, NoSuchMessage, UnknownUser, InvalidRequest, PermissionError) as error:
        print(f"itb: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        problems = "; ".join(problem["msg"].removeprefix("Value error, ") for problem in error.errors())
        print(f"itb: the settings are not valid: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _replica_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_REPLICAS:
        raise argparse.ArgumentTypeError(f"give a whole number of processes from 1 to {MAX_REPLICAS}, not {text!r}")
    return int(text)


def _stack_settings(arguments):
    from deploy.stack import StackSettings

    config = StackSettings()
    if getattr(arguments, "state_dir", None):
        config.state_dir = arguments.state_dir
    return config


def _up(arguments) -> int:
    from deploy.stack import LocalStack

    config = _stack_settings(arguments)
    return LocalStack(config, fresh=arguments.fresh, replicas=arguments.replicas, demo=arguments.demo).run()


def _init(arguments) -> int:
    from deploy.initialise import initialise, service_database_urls

    settings = Settings()
    initialise(service_database_urls(settings), settings.kafka_bootstrap_servers, settings)
    print("Topics created and every service's database migrated.")
    return 0


def _mail(arguments) -> int:
    from deploy.caught_mail import format_listing, format_message

    maildir = _stack_settings(arguments).state_dir / "mail"
    if arguments.mail_command == "list":
        print(format_listing(maildir))
    else:
        print(format_message(maildir, arguments.number))
    return 0


def _token(arguments) -> int:
    settings = _running_settings(arguments, "periods")
    user_id, version = asyncio.run(_user_id(settings, arguments.email))
    print(issue_session_token(settings, user_id, arguments.email, session_version=version))
    return 0


def _set_password(arguments) -> int:
    password = _read_new_password(arguments.password_stdin)
    settings = _running_settings(arguments, "claims")
    asyncio.run(_store_password(settings, arguments.email, password))
    print(f"Password set for {arguments.email}.")
    return 0


def _running_settings(arguments, service: str) -> Settings:
    """Settings for a command run beside `itb up`: the database server and secret key of the running (or last)
    stack unless DATABASE_URL or SECRET_KEY say otherwise, and the service's own database on that server,
    found as the service finds it (its name, or DATABASE_NAME)."""
    from deploy.stack import read_stack_file

    config = _stack_settings(arguments)
    running = read_stack_file(config.state_dir)
    secret_file = config.state_dir / "secret_key"
    overrides = {"service_name": service}
    if "database_url" in running and "DATABASE_URL" not in os.environ:
        overrides["database_url"] = running["database_url"]
    if secret_file.exists() and "SECRET_KEY" not in os.environ:
        overrides["secret_key"] = secret_file.read_text().strip()
    return Settings(**overrides)


@contextlib.asynccontextmanager
async def _service_database(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the service's own database; what goes wrong with it becomes a RuntimeError saying so."""
    service = settings.service_name
    try:
        connection = await asyncpg.connect(settings.service_database_url(), timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise RuntimeError(
            f"Cannot reach the {service} database ({error}); start the stack with `itb up`, "
            "or point DATABASE_URL at the PostgreSQL server."
        ) from error
    try:
        yield connection
    except asyncpg.PostgresError as error:
        raise RuntimeError(
            f"The {service} database failed ({error}); if its tables are missing, `itb init` migrates it."
        ) from error
    finally:
        await connection.close()


async def _user_id(settings: Settings, email: str) -> tuple[str, int]:
    """The user, and their session version: a session made with an older one (before a logout) is refused."""
    async with _service_database(settings) as connection:
        user_id = await _known_user_id(connection, email)
        return user_id, await session_version(connection, user_id)


async def _known_user_id(connection: asyncpg.Connection, email: str) -> str:
    user_id = await user_id_for_email(connection, email)
    if user_id is None:
        raise UnknownUser(
            f"No user with the email {email} is known; users arrive from the ERP's directory "
            "events, so check the address or wait for the ERP."
        )
    return user_id


async def _store_password(settings: Settings, email: str, password: str) -> None:
    async with _service_database(settings) as connection, connection.transaction():
        user_id = await _known_user_id(connection, email)
        await set_password(connection, user_id, password, datetime.now(UTC))


def _read_new_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice without being shown."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        check_new_password(password)
        return password
    try:
        password = getpass.getpass("New password: ")
        check_new_password(password)
        if getpass.getpass("The same password again: ") != password:
            raise InvalidRequest("The two passwords differ; run the command again and type the same one twice.")
    except EOFError as error:
        raise InvalidRequest("No password was typed; run the command again and type it twice.") from error
    return password


def _outbox(arguments) -> int:
    return run_outbox_command(arguments, lambda service: _service_database(_running_settings(arguments, service)))


def _running_bootstrap(arguments) -> str:
    """The broker of the running (or last) stack, unless KAFKA_BOOTSTRAP_SERVERS names one."""
    from deploy.stack import read_stack_file

    if "KAFKA_BOOTSTRAP_SERVERS" in os.environ:
        return Settings().kafka_bootstrap_servers
    return read_stack_file(_stack_settings(arguments).state_dir).get("kafka") or Settings().kafka_bootstrap_servers


def _events(arguments) -> int:
    return run_events_command(arguments, _running_bootstrap(arguments))


def _dead_letters(arguments) -> int:
    return run_dead_letters_command(arguments, _running_bootstrap(arguments))


def _lag(arguments) -> int:
    return run_lag_command(arguments, _running_bootstrap(arguments))


def _users(arguments) -> int:
    return _USERS_COMMANDS[arguments.users_command](arguments)


_USERS_COMMANDS = {"set-password": _set_password}
_COMMANDS = {
    "up": _up,
    "init": _init,
    "mail": _mail,
    "token": _token,
    "users": _users,
    "outbox": _outbox,
    "events": _events,
    "dlq": _dead_letters,
    "lag": _lag,
}

if __name__ == "__main__":
    sys.exit(main())
