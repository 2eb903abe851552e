"""JSON logs, one object per line, carrying the event being handled and the correlation id."""

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from shared.tracing import trace_id

event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Paths that carry a secret (an invite link's or a password link's token): logged without it.
_PATH_WITH_TOKEN = re.compile(r"^/(invites|password)/(?!new$)[^/]+")

# Attributes every LogRecord has; anything else was passed in `extra=` and belongs in the JSON.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if event_id := event_id_var.get():
            entry["event_id"] = event_id
        if correlation_id := correlation_id_var.get():
            entry["correlation_id"] = correlation_id
        if current_trace := trace_id():
            entry["trace_id"] = current_trace
        entry.update((key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream logs every message received and processed; ours already say what matters.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def redacted_path(path: str) -> str:
    """The request's path as the access log shows it: an emailed link's token is not written down."""
    return _PATH_WITH_TOKEN.sub(r"/\1/[token]", path)
