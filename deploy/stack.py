"""`itb up`: the whole system on one machine, in the foreground, with demo data.

Starts, as child processes on 127.0.0.1: the embedded Kafka-protocol broker, PostgreSQL, the SMTP catcher
and the four services; any of the first three can be an existing server instead (KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL, SMTP_HOST/SMTP_PORT). Ctrl-C or SIGTERM stops every child, services first.
"""

import asyncio
import json
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.embedded import (
    ChildProcess,
    data_outside_state,
    ensure_port_free,
    postgres_data_dir,
    postgres_url,
    start_broker,
    start_mail_catcher,
    start_postgres,
    wait_until,
)
from deploy.seeding import seed_demo
from deploy.state_files import read_json, write_private
from shared.contracts.topics import SERVICES
from shared.db import migrate, migrations_dirs
from shared.messaging import create_topics
from shared.settings import SERVICE_PORTS, Settings

STACK_FILE = "stack.json"


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

    def service_port(self, service: str) -> int:
        return getattr(self, f"{service}_port")


class Stopped(Exception):
    """Ctrl-C or SIGTERM: stop everything."""


def _raise_stopped(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def initialise(database_url: str, bootstrap_servers: str) -> None:
    """Create the Kafka topics and migrate every service's database (also the compose file's init step)."""
    settings = Settings(database_url=database_url)
    asyncio.run(
        create_topics(bootstrap_servers, settings.kafka_topic_partitions, settings.kafka_topic_replication_factor)
    )
    for service in SERVICES:
        migrate(settings.service_database_url(service), migrations_dirs(service))


class LocalStack:
    def __init__(self, config: StackSettings, fresh: bool = False, out=sys.stdout):
        self.config = config
        self.state = config.state_dir.resolve()
        self.fresh = fresh
        self.out = out
        self.children: list[ChildProcess] = []

    def run(self) -> int:
        signal.signal(signal.SIGINT, _raise_stopped)
        signal.signal(signal.SIGTERM, _raise_stopped)
        try:
            self.start()
            self._say("Invite to Bill is running. Press Ctrl-C to stop it.")
            self.supervise()
            return 1
        except Stopped:
            self._say("Stopping...")
            return 0
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()

    def start(self) -> None:
        if self.fresh:
            for folder in (self.state, data_outside_state(self.state)):
                if folder.exists():
                    shutil.rmtree(folder)
        self.state.mkdir(parents=True, exist_ok=True)
        logs = self.state / "logs"

        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            ensure_port_free(self.config.kafka_port, "Kafka broker", "ITB_KAFKA_PORT")
            self.children.append(start_broker(self.config.kafka_port, logs / "kafka.log"))
            bootstrap = f"127.0.0.1:{self.config.kafka_port}"
        self._say(f"Kafka          {bootstrap}")

        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            self._say(f"PostgreSQL     {database_url}")
        else:
            ensure_port_free(self.config.postgres_port, "PostgreSQL server", "ITB_POSTGRES_PORT")
            data_dir = postgres_data_dir(self.state)
            self.children.append(start_postgres(data_dir, self.config.postgres_port, logs / "postgres.log"))
            database_url = postgres_url(self.config.postgres_port)
            self._say(f"PostgreSQL     {database_url}  (data in {data_dir})")

        initialise(database_url, bootstrap)

        smtp_host = os.environ.get("SMTP_HOST")
        smtp_port = int(os.environ.get("SMTP_PORT", self.config.smtp_port))
        if not smtp_host:
            smtp_host = "127.0.0.1"
            self._start_mail_catcher(smtp_port, logs)
            self._say(f"Mail           http://127.0.0.1:{self.config.mail_ui_port}  (or `itb mail list`)")
        else:
            self._say(f"SMTP           {smtp_host}:{smtp_port}")

        environment = self._service_environment(database_url, bootstrap, smtp_host, smtp_port)
        services = {service: self._start_service(service, environment, logs) for service in SERVICES}
        for service, child in services.items():
            port = self.config.service_port(service)
            wait_until(lambda port=port: _answers_ready(port), f"{service} service", child, timeout=90)
            self._say(f"{service:<14} http://127.0.0.1:{port}  (API docs at /docs)")

        (self.state / STACK_FILE).write_text(json.dumps({"database_url": database_url, "kafka": bootstrap}))
        seed_demo(self.state, environment, self.config.periods_port, self._say)
        self._say(f"Logs of every part: {self.state / 'logs'}\n")

    def _start_mail_catcher(self, smtp_port: int, logs: Path) -> None:
        ensure_port_free(smtp_port, "mail catcher (SMTP)", "ITB_SMTP_PORT")
        ensure_port_free(self.config.mail_ui_port, "mail page", "ITB_MAIL_UI_PORT")
        self.children.append(
            start_mail_catcher(self.state / "mail", smtp_port, self.config.mail_ui_port, logs / "mail.log")
        )

    def _service_environment(self, database_url: str, bootstrap: str, smtp_host: str, smtp_port: int) -> dict:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "SMTP_HOST": smtp_host,
            "SMTP_PORT": str(smtp_port),
            "SECRET_KEY": self._secret_key(),
            "KAFKA_SESSION_TIMEOUT_MS": str(self.config.kafka_session_timeout_ms),
            "KAFKA_HEARTBEAT_INTERVAL_MS": str(self.config.kafka_session_timeout_ms // 4),
        }
        for service in SERVICES:
            environment[f"{service.upper()}_PUBLIC_URL"] = f"http://127.0.0.1:{self.config.service_port(service)}"
        return environment

    def _start_service(self, service: str, environment: dict, logs: Path) -> ChildProcess:
        port = self.config.service_port(service)
        ensure_port_free(port, f"{service} service", f"ITB_{service.upper()}_PORT")
        child = ChildProcess(
            service,
            [sys.executable, "-m", f"services.{service}"],
            logs / f"{service}.log",
            env={**environment, "SERVICE_NAME": service, "HTTP_PORT": str(port)},
        )
        self.children.append(child)
        return child

    def _secret_key(self) -> str:
        # Kept in the state folder so sessions survive a restart of the stack.
        secret_file = self.state / "secret_key"
        if not secret_file.exists():
            write_private(secret_file, secrets.token_urlsafe(32))
        return secret_file.read_text().strip()

    def supervise(self) -> None:
        """Wait for a signal; if a part stops by itself, say which and stop the rest."""
        while True:
            for child in self.children:
                if not child.running():
                    self._say(f"The {child.name} process stopped unexpectedly. Its last output:\n{child.log_tail()}")
                    return
            time.sleep(1)

    def stop(self) -> None:
        # Services first, so they finish their work while the broker and database are still there.
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _answers_ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def read_stack_file(state_dir: Path) -> dict:
    """What the running (or last) `itb up` used, for commands run beside it."""
    return read_json(state_dir / STACK_FILE)
