"""One settings object for every service and for `itb`, read from the environment."""

from urllib.parse import urlsplit, urlunsplit

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "development-only-secret-change-me"

SERVICE_PORTS = {"periods": 8081, "notifier": 8082, "responses": 8083, "claims": 8084}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    environment: str = "development"
    service_name: str = "periods"
    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0: the service's usual port from SERVICE_PORTS

    # A server URL: each service uses the database named after it on that server (or DATABASE_NAME).
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database_name: str | None = None
    database_pool_size: int = 10

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Consumer groups are named `<prefix>.<topic>`; the prefix is the service's name unless set.
    kafka_group_prefix: str | None = None
    # Used when `itb init` creates the topics.
    kafka_topic_partitions: int = 3
    kafka_topic_replication_factor: int = 1
    # The embedded broker holds a group join for half the session timeout, so local runs keep it short.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 30
    smtp_connections: int = 4  # sends in flight at once, each on a reused connection
    mail_from: str = "Invite to Bill <invites@invite-to-bill.example>"
    # After a 4xx reply or a lost connection, wait this long, doubling each time, up to 15 minutes.
    smtp_retry_first_delay_seconds: float = 5

    secret_key: str = DEFAULT_SECRET
    session_max_age_seconds: int = 12 * 60 * 60

    periods_public_url: str = "http://127.0.0.1:8081"
    notifier_public_url: str = "http://127.0.0.1:8082"
    responses_public_url: str = "http://127.0.0.1:8083"
    claims_public_url: str = "http://127.0.0.1:8084"

    log_level: str = "INFO"

    # Every notifier replica sends mail: a row being sent is leased for this long, renewed while its send is in
    # flight; a replica that dies loses its rows to another after it. Longer than SMTP_TIMEOUT_SECONDS.
    mail_lease_seconds: float = 60
    # Request bodies larger than this are refused with 413 (the largest form or JSON a person sends is a few KiB).
    max_request_body_bytes: int = 64 * 1024

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> "Settings":
        if self.environment == "production" and (self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "SECRET_KEY is the development default or shorter than 32 characters; set a long random "
                "SECRET_KEY (for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                "before starting in production."
            )
        return self

    @property
    def port(self) -> int:
        return self.http_port or SERVICE_PORTS[self.service_name]

    def service_database_url(self, service: str | None = None) -> str:
        """DATABASE_URL with its database replaced by the service's own."""
        database = service or self.database_name or self.service_name
        return urlunsplit(urlsplit(self.database_url)._replace(path="/" + database))

    # The event path: an event's envelope is refused over this size (Kafka's default message limit is 1 MB);
    # /readyz turns 503 once the outbox relay has failed to publish, or a consumer has retried one message, for
    # longer than these; a handler's unknown error is tried this many times before its event is dead-lettered.
    outbox_event_limit_bytes: int = 256 * 1024
    outbox_failing_limit_seconds: float = 60
    consumer_retrying_limit_seconds: float = 60
    consumer_attempts_on_unknown_errors: int = 4
