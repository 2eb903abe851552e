"""Tracing with OpenTelemetry: one trace from an HTTP request, through the events it caused, to the emails sent.

The W3C trace context (`traceparent`, `tracestate`) travels where the work goes:
- an HTTP request's context comes from its `traceparent` header, or starts a trace (`http_span`);
- an event recorded in the outbox carries the context current then, as the CloudEvents distributed-tracing
  extension (`shared.outbox.record`), so the relay's publish and every consumer's handling join that trace
  (`event_span`), and what a handler records carries it on;
- the notifier keeps it with each email and sends it as the email's `Traceparent` header.

Spans are exported only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` is set (OTLP over HTTP; the other
`OTEL_*` variables apply). Without it, trace ids are still made and carried, and every log line written within a
span carries its `trace_id` (shared/logs.py), so one grep follows a request across the services' logs.
"""

import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind

_TRACER = "invite-to-bill"


def configure_tracing(service: str) -> None:
    """Make this process's spans, named after the service; once per process (the tests run several services)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"invite-to-bill-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def current_trace_context() -> dict[str, str]:
    """The current context as W3C headers (`traceparent`, and `tracestate` when there is one); empty outside any
    span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def http_span(method: str, headers: Mapping[str, str]) -> AbstractContextManager[Span]:
    """A server span for one request, continuing the caller's trace when its `traceparent` names one. The caller
    names it after the route once it is known."""
    # A request without trace headers (most) starts a trace: nothing to extract.
    carried = any(field in headers for field in propagate.get_global_textmap().fields)
    caller = propagate.extract(headers) if carried else Context()
    return _tracer().start_as_current_span(method, context=caller, kind=SpanKind.SERVER)


@contextmanager
def event_span(name: str, carried: Mapping[str, str], kind: SpanKind = SpanKind.CONSUMER) -> Iterator[Span]:
    """A span for work on an event (publishing it, handling it, sending its email), in the trace the event
    carries (`carried`: its `traceparent` and `tracestate`), or a new one."""
    parent = propagate.extract({header: value for header, value in carried.items() if value})
    with _tracer().start_as_current_span(name, context=parent, kind=kind) as span:
        yield span


def trace_id() -> str | None:
    """The current trace's id as 32 hex digits, for log lines; None outside any trace."""
    span_context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(span_context.trace_id) if span_context.is_valid else None


def _tracer() -> trace.Tracer:
    return _tracer_of(trace.get_tracer_provider())


@functools.lru_cache(maxsize=1)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    """Made once per provider: `get_tracer` costs as much as a span."""
    return provider.get_tracer(_TRACER)
