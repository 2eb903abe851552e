"""A service's Prometheus metrics, served at `/metrics` (shared/health.py).

FastStream's Prometheus middleware counts the messages each consumer received and handled (with the time taken
and the errors) and the messages published; the rest are ours: HTTP requests by route and status, the outbox's
backlog, dead letters, emails, logins refused and lockouts, and which readiness checks fail. Each service has
its own registry, kept with its broker (as `shared.messaging.retrying_messages` is), so that several services in
one process (the tests) keep their figures apart.
"""

import weakref

from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "itb"


class ServiceMetrics:
    def __init__(self, service: str):
        self.registry = CollectorRegistry()
        registry = self.registry
        self.broker_middleware = KafkaPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix=PREFIX)
        self.http_requests = Counter(
            f"{PREFIX}_http_requests",
            "HTTP requests answered, by route (its template, so that ids do not multiply the series) and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            ["method", "route"],
            registry=registry,
        )
        self.outbox_waiting = Gauge(
            f"{PREFIX}_outbox_events_waiting", "Events recorded and not yet published", registry=registry
        )
        self.outbox_oldest_age = Gauge(
            f"{PREFIX}_outbox_oldest_event_age_seconds",
            "How long the oldest event the relay could publish has waited (0 when none waits)",
            registry=registry,
        )
        self.outbox_failed = Gauge(
            f"{PREFIX}_outbox_events_failed",
            "Events Kafka refused for good, waiting for an operator (`itb outbox retry`)",
            registry=registry,
        )
        self.dead_letters = Counter(
            f"{PREFIX}_dead_letters",
            "Messages sent to the service's dead-letter topic, by the topic they came from",
            ["topic"],
            registry=registry,
        )
        self.emails = Counter(
            f"{PREFIX}_emails",
            "Emails by kind (invite, resend, reminder, password, claim_approved, claim_revision_requested, "
            "payment_schedule_reminder) and outcome "
            "(sent, retried, failed, cancelled)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.logins_refused = Counter(
            f"{PREFIX}_logins_refused", "Logins refused for a wrong email or password", registry=registry
        )
        self.lockouts = Counter(
            f"{PREFIX}_login_lockouts",
            "Logins refused because an account or an address is locked out, by which",
            ["locked"],
            registry=registry,
        )
        self.readiness = Gauge(
            f"{PREFIX}_readiness_check_ok",
            "1 while a readiness check passes, 0 while it fails (/readyz says why)",
            ["check"],
            registry=registry,
        )
        self._answered: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def http_request_answered(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request counted and timed; each route's series are looked up once (prometheus_client checks and
        converts the label values on every `labels` call)."""
        series = self._answered.get((method, route, status))
        if series is None:
            series = self.http_requests.labels(method, route, str(status)), self.http_duration.labels(method, route)
            self._answered[(method, route, status)] = series
        count, duration = series
        count.inc()
        duration.observe(seconds)


_of_broker: "weakref.WeakKeyDictionary[KafkaBroker, ServiceMetrics]" = weakref.WeakKeyDictionary()


def attach(broker: KafkaBroker, metrics: ServiceMetrics) -> None:
    _of_broker[broker] = metrics


def service_metrics(broker: KafkaBroker) -> ServiceMetrics:
    """The metrics of the service whose broker this is (made with it by `shared.messaging.create_broker`)."""
    return _of_broker[broker]
