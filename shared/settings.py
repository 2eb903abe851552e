"""One settings object for every service and for `itb`, read from the environment."""

from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import keys

DEFAULT_SECRET = "development-only-secret-change-me"
_MAKE_KEYS = "`python -m shared.keys` prints a fresh set"

SERVICE_PORTS = {"periods": 8081, "notifier": 8082, "responses": 8083, "claims": 8084}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    environment: str = "development"
    service_name: str = "periods"
    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0: the service's usual port from SERVICE_PORTS
    # Request bodies larger than this are refused with 413 (the largest form or JSON a person sends is a few KiB).
    max_request_body_bytes: int = 64 * 1024

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
    # How long the broker may hold a consumer's fetch while nothing new is there; Kafka answers it as soon as an
    # event arrives. The embedded broker often answers only when the wait runs out; a shorter wait costs CPU while
    # idle, so `itb up` keeps this one too (docs/architecture.md, bench/NOTES.md).
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1)
    # A consumer applies up to this many fetched events in one database transaction (each one in the inbox). Their
    # parsed events are held together (a commitment's, about 15 kB): 500 left Python's allocator holding 14 MB
    # of mostly empty arenas after an ERP ingest (bench/profiling/memory.md).
    kafka_batch_max_records: int = Field(default=100, ge=1)

    # The event path: an event's envelope is refused over this size (Kafka's default message limit is 1 MB);
    # /readyz turns 503 once the outbox relay has failed to publish, an event has waited in the outbox, or a
    # consumer has retried one message, for longer than these; a handler's unknown error is tried this many
    # times before its event is dead-lettered.
    outbox_event_limit_bytes: int = 256 * 1024
    outbox_failing_limit_seconds: float = 60
    outbox_waiting_limit_seconds: float = 120
    # Published outbox rows and inbox rows are pruned after this many days (shared/retention.py); an inbox row
    # must outlive any redelivery of its event, so the inbox keeps rows at least as long as the outbox.
    outbox_retention_days: int = Field(default=30, ge=1)
    inbox_retention_days: int = Field(default=60, ge=1)
    consumer_retrying_limit_seconds: float = 60
    consumer_attempts_on_unknown_errors: int = 4

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
    # Every notifier replica sends mail: a row being sent is leased for this long, renewed while its send is in
    # flight; a replica that dies loses its rows to another after it. Longer than SMTP_TIMEOUT_SECONDS.
    mail_lease_seconds: float = 60

    # Invite links, password links and CSRF tokens are signed with keys derived from it, one per purpose.
    secret_key: str = DEFAULT_SECRET
    # During a rotation: the secret before, whose links and tokens are still accepted (it signs nothing new).
    secret_key_previous: str | None = None
    # Sessions are signed by the claims service alone, with an Ed25519 key (shared.keys); the others verify.
    # Unset in development: the pair is then derived from SECRET_KEY (and the previous one from the previous).
    session_private_key: str | None = None  # the claims service only
    session_public_key: str | None = None  # every service
    session_public_key_previous: str | None = None  # during a rotation: sessions it signed are still accepted
    session_max_age_seconds: int = 12 * 60 * 60

    periods_public_url: str = "http://127.0.0.1:8081"
    notifier_public_url: str = "http://127.0.0.1:8082"
    responses_public_url: str = "http://127.0.0.1:8083"
    claims_public_url: str = "http://127.0.0.1:8084"

    log_level: str = "INFO"

    @field_validator(
        "secret_key_previous",
        "session_private_key",
        "session_public_key",
        "session_public_key_previous",
        "smtp_username",
        "smtp_password",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        # Compose passes `${SECRET_KEY_PREVIOUS:-}` as an empty string when no rotation is under way (and
        # `${SMTP_USERNAME:-}` when the mail server takes mail without a login).
        return value or None

    @model_validator(mode="after")
    def _refuse_a_lease_shorter_than_a_send(self) -> "Settings":
        if self.mail_lease_seconds <= self.smtp_timeout_seconds:
            raise ValueError(
                f"MAIL_LEASE_SECONDS ({self.mail_lease_seconds:g}) must be longer than SMTP_TIMEOUT_SECONDS "
                f"({self.smtp_timeout_seconds:g}), or another notifier replica could take over a send still under "
                "way; raise MAIL_LEASE_SECONDS."
            )
        return self

    @model_validator(mode="after")
    def _refuse_an_inbox_that_forgets_before_the_outbox(self) -> "Settings":
        if self.inbox_retention_days < self.outbox_retention_days:
            raise ValueError(
                f"INBOX_RETENTION_DAYS ({self.inbox_retention_days}) must be at least OUTBOX_RETENTION_DAYS "
                f"({self.outbox_retention_days}): an event replayed from an outbox would otherwise find no inbox row "
                "and have its effect twice; raise INBOX_RETENTION_DAYS."
            )
        return self

    @model_validator(mode="after")
    def _refuse_missing_or_default_keys_in_production(self) -> "Settings":
        # Keys that are set must be keys, in every environment: a typo fails at start, not at the first login.
        if self.session_private_key:
            keys.session_private_key(self.session_private_key)
        for text in (self.session_public_key, self.session_public_key_previous):
            if text:
                keys.session_public_key(text)
        if self.session_private_key and self.session_public_key:
            if keys.key_text(self._configured_private_key.public_key()) != self.session_public_key.strip():
                raise ValueError(
                    "SESSION_PUBLIC_KEY is not the public half of SESSION_PRIVATE_KEY; set the pair that "
                    f"was made together ({_MAKE_KEYS})."
                )
        if self.environment != "production":
            return self
        for name, secret in (("SECRET_KEY", self.secret_key), ("SECRET_KEY_PREVIOUS", self.secret_key_previous)):
            if secret is not None and (secret == DEFAULT_SECRET or len(secret) < 32):
                raise ValueError(
                    f"{name} is the development default or shorter than 32 characters; set a long random "
                    f"{name} ({_MAKE_KEYS}) before starting in production."
                )
        if not self.session_public_key:
            raise ValueError(
                "SESSION_PUBLIC_KEY is not set: in production every service checks sessions with the claims "
                f"service's public key. Set SESSION_PUBLIC_KEY on every service ({_MAKE_KEYS})."
            )
        if self.service_name == "claims" and not self.session_private_key:
            raise ValueError(
                "SESSION_PRIVATE_KEY is not set: in production the claims service signs sessions with its own "
                f"private key. Set SESSION_PRIVATE_KEY on the claims service only ({_MAKE_KEYS})."
            )
        return self

    def purpose_keys(self, purpose: str) -> list[bytes]:
        """The keys for one purpose (shared.keys), oldest first: itsdangerous signs with the last and accepts
        any of them, so links and tokens made before a rotation keep working."""
        secrets = [self.secret_key_previous, self.secret_key] if self.secret_key_previous else [self.secret_key]
        return [keys.purpose_key(secret, purpose) for secret in secrets]

    @property
    def session_signing_key(self) -> Ed25519PrivateKey:
        """The key that signs sessions; PermissionError where this process may not sign them."""
        if self.session_private_key:
            return self._configured_private_key
        if self.environment == "production" or self.session_public_key:
            raise PermissionError(
                "Only the claims service signs sessions, and SESSION_PRIVATE_KEY is not set here; ask the claims "
                "service for a session (log in, or POST /api/sessions)."
            )
        return keys.development_session_key(self.secret_key)

    @property
    def session_verifying_keys(self) -> list[Ed25519PublicKey]:
        """The public keys whose sessions are accepted: the current one, and the previous during a rotation."""
        if self.session_public_key:
            current = keys.session_public_key(self.session_public_key)
        elif self.session_private_key:
            current = self._configured_private_key.public_key()
        else:
            current = keys.development_session_key(self.secret_key).public_key()
        if self.session_public_key_previous:
            return [current, keys.session_public_key(self.session_public_key_previous)]
        if self.secret_key_previous and not (self.session_public_key or self.session_private_key):
            return [current, keys.development_session_key(self.secret_key_previous).public_key()]
        return [current]

    @property
    def _configured_private_key(self) -> Ed25519PrivateKey:
        assert self.session_private_key is not None
        return keys.session_private_key(self.session_private_key)

    @property
    def port(self) -> int:
        return self.http_port or SERVICE_PORTS[self.service_name]

    def service_database_url(self, service: str | None = None) -> str:
        """DATABASE_URL with its database replaced by the service's own."""
        database = service or self.database_name or self.service_name
        return urlunsplit(urlsplit(self.database_url)._replace(path="/" + database))
