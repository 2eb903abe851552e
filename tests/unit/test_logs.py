"""JSON logs: one object per line, with the event being handled and its correlation id."""

import json
import logging

from shared.logs import JsonFormatter, correlation_id_var, event_id_var, redacted_path
from shared.tracing import configure_tracing, event_span


def formatted(message: str, **extra) -> dict:
    record = logging.LogRecord("shared.messaging", logging.WARNING, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter("notifier").format(record))


def test_a_log_line_carries_the_event_and_correlation_ids_of_the_event_being_handled():
    event_token, correlation_token = event_id_var.set("event-1"), correlation_id_var.set("ticket-4711")
    try:
        line = formatted("malformed event sent to dead letters", error="not a valid CloudEvent")
    finally:
        event_id_var.reset(event_token)
        correlation_id_var.reset(correlation_token)
    assert line["service"] == "notifier"
    assert line["level"] == "warning"
    assert line["message"] == "malformed event sent to dead letters"
    assert (line["event_id"], line["correlation_id"]) == ("event-1", "ticket-4711")
    assert line["error"] == "not a valid CloudEvent"


def test_outside_an_event_a_log_line_has_no_event_id():
    assert "event_id" not in formatted("service started")


def test_the_access_log_leaves_out_the_token_of_an_emailed_link_and_nothing_else():
    assert redacted_path("/invites/abc.def.ghi") == "/invites/[token]"
    assert redacted_path("/password/abc.def") == "/password/[token]"
    assert redacted_path("/password/new") == "/password/new"
    assert redacted_path("/claims/3f1c") == "/claims/3f1c"
    assert redacted_path("/api/invites/x") == "/api/invites/x"


def test_a_log_line_written_while_handling_an_event_carries_the_trace_id_the_event_brought():
    configure_tracing("notifier")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    with event_span("handle billing.period.opened.v1", {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}):
        line = formatted("invites recorded")
    assert line["trace_id"] == trace
    assert "trace_id" not in formatted("outside any trace")
