"""`itb`: everything a person runs by hand (start the stack, read its mail, get a session token)."""

import argparse
import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from deploy.mailcatcher import NoSuchMessage
from shared.erp import user_id_for_email
from shared.sessions import issue_session_token
from shared.settings import Settings


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

    up = commands.add_parser("up", parents=[state], help="start the whole system with demo data, in the foreground")
    up.add_argument("--fresh", action="store_true", help="throw away the saved state first")

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

    arguments = parser.parse_args(argv)
    try:
        return _COMMANDS[arguments.command](arguments)
    except (RuntimeError, NoSuchMessage, UnknownUser) as error:
        print(f"itb: {error}", file=sys.stderr)
        return 2


def _stack_settings(arguments):
    from deploy.stack import StackSettings

    config = StackSettings()
    if getattr(arguments, "state_dir", None):
        config.state_dir = arguments.state_dir
    return config


def _up(arguments) -> int:
    from deploy.stack import LocalStack

    return LocalStack(_stack_settings(arguments), fresh=arguments.fresh).run()


def _init(arguments) -> int:
    from deploy.stack import initialise

    settings = Settings()
    initialise(settings.database_url, settings.kafka_bootstrap_servers)
    print("Topics created and every service's database migrated.")
    return 0


def _mail(arguments) -> int:
    from deploy.mailcatcher import format_listing, format_message

    maildir = _stack_settings(arguments).state_dir / "mail"
    if arguments.mail_command == "list":
        print(format_listing(maildir))
    else:
        print(format_message(maildir, arguments.number))
    return 0


def _token(arguments) -> int:
    from deploy.stack import read_stack_file

    config = _stack_settings(arguments)
    running = read_stack_file(config.state_dir)
    secret_file = config.state_dir / "secret_key"
    overrides = {}
    if "database_url" in running and "DATABASE_URL" not in os.environ:
        overrides["database_url"] = running["database_url"]
    if secret_file.exists() and "SECRET_KEY" not in os.environ:
        overrides["secret_key"] = secret_file.read_text().strip()
    settings = Settings(**overrides)
    user_id = asyncio.run(_user_id(settings.service_database_url("periods"), arguments.email))
    if user_id is None:
        raise UnknownUser(
            f"No user with the email {arguments.email} is known; users arrive from the ERP's directory "
            "events, so check the address or wait for the ERP."
        )
    print(issue_session_token(settings, user_id, arguments.email))
    return 0


async def _user_id(database_url: str, email: str) -> str | None:
    try:
        connection = await asyncpg.connect(database_url)
    except (OSError, asyncpg.PostgresError) as error:
        raise RuntimeError(f"Cannot reach the periods database ({error}); is `itb up` running?") from error
    try:
        return await user_id_for_email(connection, email)
    finally:
        await connection.close()


_COMMANDS = {"up": _up, "init": _init, "mail": _mail, "token": _token}

if __name__ == "__main__":
    sys.exit(main())
