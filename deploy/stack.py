"""`itb up`: the whole system on one machine, in the foreground, with demo data.

Starts, as child processes on 127.0.0.1: the embedded Kafka-protocol broker, PostgreSQL, the SMTP catcher
and the four services (`--replicas N`: N processes of each); any of the first three can be an existing server
instead (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, SMTP_HOST/SMTP_PORT). A part that exits unexpectedly is
started again after a backoff; one that keeps exiting stops the stack. Ctrl-C or SIGTERM stops every child,
services first.

The embedded broker keeps its topics in memory only: whenever it starts, the services' outboxes are replayed
into it (deploy/replay.py).
"""

import asyncio
import functools
import json
import math
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.embedded import (
    ChildProcess,
    Starting,
    data_outside_state,
    ensure_port_free,
    launch_broker,
    launch_mail_catcher,
    launch_postgres,
    postgres_data_dir,
    postgres_url,
    start_postgres,
    stop_together,
    wait_until,
)
from deploy.initialise import initialise
from deploy.replay import Replay, mark_outboxes_for_replay, wait_until_replayed
from deploy.seeding import seed_demo
from deploy.state_files import read_json, write_private
from shared.contracts.topics import SERVICES
from shared.settings import SERVICE_PORTS, Settings

STACK_FILE = "stack.json"
# The parts that are not services: the services need them, so they start first and stop last.
INFRASTRUCTURE = ("kafka", "postgres", "mail")
# How long the start-up output waits for the relays to have replayed the outboxes before going on without.
REPLAY_WAIT_SECONDS = 120


class StackSettings(BaseSettings):
    """Where `itb up` keeps its state and which ports it uses (environment variables ITB_...)."""

    model_config = SettingsConfigDict(env_prefix="ITB_")

    state_dir: Path = Path(".state")
    kafka_port: int = 9092
    postgres_port: int = 5432
    smtp_port: int = 1025
    mail_ui_port: int = 8025
    periods_port: int = SERVICE_PORTS["periods"]
    notifier_port: int = SERVICE_PORTS["notifier"]
    responses_port: int = SERVICE_PORTS["responses"]
    claims_port: int = SERVICE_PORTS["claims"]
    # The embedded broker holds a consumer-group join for half of this; short keeps start-up quick.
    kafka_session_timeout_ms: int = 4000

    def service_ports(self, service: str, replicas: int = 1) -> list[int]:
        """The HTTP ports of the service's replicas: adjacent, from its port on. The services whose port is not
        set take theirs in turn from the first usual one, `replicas` each (8081-8084 for one of each)."""
        port_setting = f"{service}_port"
        if port_setting in self.model_fields_set:
            first = getattr(self, port_setting)
        else:
            first = min(SERVICE_PORTS.values()) + SERVICES.index(service) * replicas
        return [first + replica for replica in range(replicas)]


class Stopped(Exception):
    """Ctrl-C or SIGTERM: stop everything."""


class GaveUp(Exception):
    """A part kept exiting: the stack stops rather than restart it for ever."""


@dataclass
class Restarts:
    """When a part that exited starts again: after a backoff doubling with each exit in the window, and not at
    all once it has exited `limit` times within `window_seconds`."""

    limit: int = 5
    window_seconds: float = 60
    first_backoff_seconds: float = 0.5
    longest_backoff_seconds: float = 8
    exits: deque = field(default_factory=deque)

    def backoff_after_exit(self, now: float) -> float | None:
        """Seconds to wait before starting the part again, or None to give up on it."""
        self.exits.append(now)
        while now - self.exits[0] > self.window_seconds:
            self.exits.popleft()
        if len(self.exits) >= self.limit:
            return None
        return min(self.first_backoff_seconds * 2 ** (len(self.exits) - 1), self.longest_backoff_seconds)


@dataclass
class Part:
    """A child process of the stack, and how to start it again when it exits unexpectedly."""

    name: str
    child: ChildProcess
    start_again: Callable[[], ChildProcess]
    restarts: Restarts = field(default_factory=Restarts)
    restart_at: float | None = None


def _raise_stopped(signum, _frame):
    # Only once: a second Ctrl-C (or SIGTERM) would break off the orderly stop the first one began.
    _ignore_stop_signals()
    raise Stopped(signal.Signals(signum).name)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class LocalStack:
    def __init__(
        self, config: StackSettings, fresh: bool = False, replicas: int = 1, out=sys.stdout, demo: bool = True
    ):
        self.config = config
        self.state = config.state_dir.resolve()
        self.fresh = fresh
        self.replicas = replicas
        self.demo = demo
        self.out = out
        self.logs = self.state / "logs"
        self.parts: list[Part] = []
        self.environment: dict = {}
        self.database_url = ""
        self.bootstrap = ""

    def run(self) -> int:
        signal.signal(signal.SIGINT, _raise_stopped)
        signal.signal(signal.SIGTERM, _raise_stopped)
        try:
            self.start()
            self._say("Invite to Bill is running. Press Ctrl-C to stop it.")
            self.supervise()
        except Stopped:
            self._say("Stopping...")
            return 0
        except GaveUp as reason:
            self._say(f"Stopping the stack: {reason}")
            return 1
        finally:
            _ignore_stop_signals()
            self.stop()

    def start(self) -> None:
        if self.fresh:
            for folder in (self.state, data_outside_state(self.state)):
                if folder.exists():
                    shutil.rmtree(folder)
        self.state.mkdir(parents=True, exist_ok=True)

        # The parts are launched together and waited for after: the mail catcher first, whose Python start is
        # the longest, then the broker, then PostgreSQL (its data folder is set up first, the first time).
        smtp_host = os.environ.get("SMTP_HOST")
        smtp_port = int(os.environ.get("SMTP_PORT", self.config.smtp_port))
        mail = None
        if not smtp_host:
            smtp_host = "127.0.0.1"
            ensure_port_free(smtp_port, "mail catcher (SMTP)", "ITB_SMTP_PORT")
            ensure_port_free(self.config.mail_ui_port, "mail page", "ITB_MAIL_UI_PORT")
            mail = self._launch_part(
                "mail", self._launch_mail_catcher(smtp_port), lambda: self._start_mail_catcher(smtp_port)
            )

        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        kafka = None
        if not self.bootstrap:
            ensure_port_free(self.config.kafka_port, "Kafka broker", "ITB_KAFKA_PORT")
            self.bootstrap = f"127.0.0.1:{self.config.kafka_port}"
            kafka = self._launch_part("kafka", self._launch_broker(), self._start_broker)

        self.database_url = os.environ.get("DATABASE_URL", "")
        if self.database_url:
            postgres, where = None, ""
        else:
            ensure_port_free(self.config.postgres_port, "PostgreSQL server", "ITB_POSTGRES_PORT")
            data_dir = postgres_data_dir(self.state)
            log = self.logs / "postgres.log"
            postgres = self._launch_part(
                "postgres",
                launch_postgres(data_dir, self.config.postgres_port, log),
                lambda: start_postgres(data_dir, self.config.postgres_port, log),
            )
            self.database_url = postgres_url(self.config.postgres_port)
            where = f"  (data in {data_dir})"

        if kafka is not None:
            kafka.wait()
        self._say(f"Kafka          {self.bootstrap}")
        if postgres is not None:
            postgres.wait()
        self._say(f"PostgreSQL     {self.database_url}{where}")

        self._initialise()
        replay = self._mark_for_replay() if self._broker_is_embedded() else None

        if mail is not None:
            mail.wait()
            self._say(f"Mail           http://127.0.0.1:{self.config.mail_ui_port}  (or `itb mail list`)")
        else:
            self._say(f"SMTP           {smtp_host}:{smtp_port}")

        self.environment = self._service_environment(smtp_host, smtp_port)
        self._check_service_ports()
        relays_started = time.monotonic()
        self._start_services()
        for service in SERVICES:
            first, *others = self.config.service_ports(service, self.replicas)
            more = "".join(f", :{port}" for port in others)
            replicas = f"; {self.replicas} replicas, emails link to the first" if others else ""
            self._say(f"{service:<14} http://127.0.0.1:{first}{more}  (API docs at /docs{replicas})")

        (self.state / STACK_FILE).write_text(json.dumps({"database_url": self.database_url, "kafka": self.bootstrap}))
        if replay is not None:
            self._report_replay(replay, relays_started)
        if self.demo:
            seed_demo(self.state, self.environment, self.config.service_ports("periods", self.replicas)[0], self._say)
        self._say(f"Logs of every part: {self.logs}\n")

    def _broker_is_embedded(self) -> bool:
        return any(part.name == "kafka" for part in self.parts)

    def _add_part(self, name: str, start: Callable[[], ChildProcess]) -> None:
        self.parts.append(Part(name, start(), start))

    def _launch_part(self, name: str, starting: Starting, start_again: Callable[[], ChildProcess]) -> Starting:
        """A part launched, to be waited for later; a part in the stack from now on (so stopped with it)."""
        self.parts.append(Part(name, starting.child, start_again))
        return starting

    def _start_broker(self) -> ChildProcess:
        return self._launch_broker().wait()

    def _launch_broker(self) -> Starting:
        return launch_broker(self.config.kafka_port, self.logs / "kafka.log")

    def _start_mail_catcher(self, smtp_port: int) -> ChildProcess:
        return self._launch_mail_catcher(smtp_port).wait()

    def _launch_mail_catcher(self, smtp_port: int) -> Starting:
        return launch_mail_catcher(self.state / "mail", smtp_port, self.config.mail_ui_port, self.logs / "mail.log")

    def _initialise(self) -> None:
        settings = Settings(database_url=self.database_url)
        urls = {service: settings.service_database_url(service) for service in SERVICES}
        initialise(urls, self.bootstrap, settings)

    def _mark_for_replay(self) -> Replay:
        """The broker's topics start empty: every event in the outboxes goes out again before anything new."""
        return asyncio.run(mark_outboxes_for_replay(self.database_url))

    def _report_replay(self, replay: Replay, relays_started: float) -> None:
        if not replay.events:
            self._say("Replayed       no events: none had been published before")
            return
        left = asyncio.run(wait_until_replayed(self.database_url, replay, REPLAY_WAIT_SECONDS))
        took = time.monotonic() - relays_started
        if left:
            self._say(
                f"Replayed       {replay.events - left} of {replay.events} events from the outboxes in {took:.1f} s; "
                "the rest go out as the relays catch up (the services' logs say if the broker refuses one)"
            )
        else:
            self._say(f"Replayed       {replay.events} events from the outboxes into the fresh broker in {took:.1f} s")

    def _service_environment(self, smtp_host: str, smtp_port: int) -> dict:
        environment = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SMTP_HOST": smtp_host,
            "SMTP_PORT": str(smtp_port),
            "SECRET_KEY": self._secret_key(),
            "KAFKA_SESSION_TIMEOUT_MS": str(self.config.kafka_session_timeout_ms),
            "KAFKA_HEARTBEAT_INTERVAL_MS": str(self.config.kafka_session_timeout_ms // 4),
        }
        for service in SERVICES:
            # Links in emails lead to the first replica: any replica would answer them the same.
            first = self.config.service_ports(service, self.replicas)[0]
            environment[f"{service.upper()}_PUBLIC_URL"] = f"http://127.0.0.1:{first}"
        return environment

    def _check_service_ports(self) -> None:
        taken: dict[int, str] = {}
        for service in SERVICES:
            for port in self.config.service_ports(service, self.replicas):
                if port in taken:
                    raise RuntimeError(
                        f"The {service} and {taken[port]} services would both listen on port {port}: with "
                        f"--replicas {self.replicas} each service needs {self.replicas} adjacent ports from its own, "
                        "so set ITB_<SERVICE>_PORT further apart (or leave them all unset)."
                    )
                taken[port] = service
                ensure_port_free(port, f"{service} service", f"ITB_{service.upper()}_PORT")

    def _start_services(self) -> None:
        """Every replica of every service, once each answers that it is ready."""
        started = []
        for service in SERVICES:
            for replica, port in enumerate(self.config.service_ports(service, self.replicas), start=1):
                name = service if replica == 1 else f"{service}-{replica}"
                self._add_part(name, functools.partial(self._start_service, name, service, port))
                started.append((self.parts[-1], port))
        for part, port in started:
            wait_until(lambda port=port: _answers_ready(port), f"{part.name} service", part.child, timeout=90)

    def _start_service(self, name: str, service: str, port: int) -> ChildProcess:
        return ChildProcess(
            name,
            [sys.executable, "-m", f"services.{service}"],
            self.logs / f"{name}.log",
            env={**self.environment, "SERVICE_NAME": service, "HTTP_PORT": str(port)},
        )

    def _secret_key(self) -> str:
        # Kept in the state folder so sessions survive a restart of the stack.
        secret_file = self.state / "secret_key"
        if not secret_file.exists():
            write_private(secret_file, secrets.token_urlsafe(32))
        return secret_file.read_text().strip()

    def supervise(self) -> None:
        """Until a signal: start again each part that exits, after its backoff; give up on one that keeps exiting."""
        while True:
            now = time.monotonic()
            for part in self.parts:
                if part.restart_at is None and not part.child.running():
                    self._schedule_restart(part, now)
                elif part.restart_at is not None and now >= part.restart_at:
                    self._restart(part)
            time.sleep(0.2)

    def _schedule_restart(self, part: Part, now: float) -> None:
        exit_status = _describe_exit(part.child.process.returncode)
        backoff = part.restarts.backoff_after_exit(now)
        if backoff is None:
            raise GaveUp(
                f"the {part.name} process {exit_status}, and has stopped {part.restarts.limit} times within "
                f"{part.restarts.window_seconds:.0f} s. Its last output:\n{part.child.log_tail()}"
            )
        self._say(f"The {part.name} process {exit_status}; starting it again in {backoff:.1f} s.", part)
        part.restart_at = now + backoff

    def _restart(self, part: Part) -> None:
        part.restart_at = None
        try:
            if part.name == "kafka":
                self._restart_broker(part)
            else:
                part.child = part.start_again()
        except Exception as failure:
            # Whatever it was, the part is stopped, so that the next look at it counts another exit: it is tried
            # again, or given up on (a broker up without its topics, or not replayed into, is no use).
            part.child.stop()
            self._say(f"The {part.name} process could not start again: {failure}", part)
            return
        self._say(f"The {part.name} process started again.", part)

    def _restart_broker(self, broker: Part) -> None:
        """A new embedded broker has empty topics: the services stop, their outboxes are marked for replay, and
        they start again, reading the new topics from the beginning."""
        services = self._service_parts()
        for part in services:
            part.restart_at = math.inf  # stopped on purpose: they start again with the broker
        stop_together([part.child for part in services])
        broker.child = broker.start_again()
        self._initialise()
        replay = self._mark_for_replay()
        for part in services:
            part.child = part.start_again()
            part.restart_at = None
        self._say(f"Replaying      {replay.events} events from the outboxes into the new broker.", broker)

    def stop(self) -> None:
        # Services first, so they finish their work while the broker and database are still there.
        services = self._service_parts()
        stop_together([part.child for part in services])
        for part in reversed(self.parts):
            part.child.stop()
        self.parts.clear()

    def _service_parts(self) -> list[Part]:
        return [part for part in self.parts if part.name not in INFRASTRUCTURE]

    def _say(self, line: str, part: Part | None = None) -> None:
        """On the output and in the stack's log; what concerns one part in its log too."""
        print(line, file=self.out, flush=True)
        stamped = f"{datetime.now(UTC).isoformat(timespec='seconds')} itb up: {line}\n"
        self.logs.mkdir(parents=True, exist_ok=True)
        for log in (self.logs / "stack.log", *([part.child.log_path] if part else [])):
            with open(log, "a") as file:
                file.write(stamped)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        return f"was ended by {signal.Signals(-returncode).name}"
    return f"exited with status {returncode}"


def _answers_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def read_stack_file(state_dir: Path) -> dict:
    """What the running (or last) `itb up` used, for commands run beside it."""
    return read_json(state_dir / STACK_FILE)
