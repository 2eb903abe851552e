"""The CloudEvents 1.0 envelope, and its Kafka protocol binding in structured and binary modes."""

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
SOURCE_PREFIX = "urn:invite-to-bill:"
_BINARY_PREFIX = "ce_"


class MalformedEvent(Exception):
    """A Kafka message that is not a CloudEvent we can read; it belongs in the dead-letter topic."""


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event. Extension attributes (such as `correlationid`) are kept as extra fields."""

    model_config = ConfigDict(extra="allow")

    specversion: str = Field(pattern=r"^1\.0$")
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: datetime | None = None
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    data: Any = None

    @classmethod
    def new(
        cls,
        type: str,
        source: str,
        data: Any,
        *,
        subject: str | None = None,
        id: str | None = None,
        time: datetime | None = None,
        **extensions: str | None,
    ) -> "CloudEvent":
        """A new event (a fresh id and the current time unless given)."""
        return cls(
            specversion="1.0",
            id=id or str(uuid.uuid4()),
            source=source,
            type=type,
            subject=subject,
            time=time or datetime.now(UTC),
            data=data,
            **{name: value for name, value in extensions.items() if value is not None},
        )

    @property
    def correlation_id(self) -> str:
        return (self.model_extra or {}).get("correlationid") or self.id

    @property
    def trace_context(self) -> dict[str, str]:
        """The W3C trace context the event carries (CloudEvents' distributed-tracing extension), if any."""
        extensions = self.model_extra or {}
        return {name: str(extensions[name]) for name in ("traceparent", "tracestate") if extensions.get(name)}

    def to_structured(self) -> tuple[bytes, dict[str, str]]:
        """Kafka value and headers in structured mode: the whole envelope is the value."""
        body = self.model_dump_json(exclude_none=True).encode()
        return body, {"content-type": STRUCTURED_CONTENT_TYPE}

    def to_binary(self) -> tuple[bytes, dict[str, str]]:
        """Kafka value and headers in binary mode: attributes in `ce_` headers, the value is `data`."""
        attributes = self.model_dump(mode="json", exclude_none=True, exclude={"data", "datacontenttype"})
        headers = {_BINARY_PREFIX + name: str(value) for name, value in attributes.items()}
        headers["content-type"] = self.datacontenttype or "application/json"
        return json.dumps(self.data).encode(), headers


def from_kafka(value: bytes | None, headers: dict[str, Any]) -> CloudEvent:
    """Read a CloudEvent from a Kafka record in either mode, or raise MalformedEvent saying why."""
    headers = {name.lower(): _text(raw) for name, raw in headers.items()}
    try:
        # The Kafka binding: a cloudevents content type means structured mode, whatever else is there.
        structured = headers.get("content-type", "").startswith("application/cloudevents")
        if "ce_specversion" in headers and not structured:
            return _from_binary(value, headers)
        return CloudEvent.model_validate_json(value or b"")
    except ValidationError as error:
        raise MalformedEvent(f"not a valid CloudEvent: {describe_validation_error(error)}") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEvent(f"not a valid CloudEvent: {error}") from error


def _from_binary(value: bytes | None, headers: dict[str, str]) -> CloudEvent:
    attributes: dict[str, Any] = {
        name.removeprefix(_BINARY_PREFIX): header for name, header in headers.items() if name.startswith(_BINARY_PREFIX)
    }
    content_type = headers.get("content-type", "application/json")
    attributes["datacontenttype"] = content_type
    if value is None:
        attributes["data"] = None
    elif "json" in content_type:
        attributes["data"] = json.loads(value)
    else:
        attributes["data"] = value.decode()
    return CloudEvent.model_validate(attributes)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)


def describe_validation_error(error: ValidationError) -> str:
    """A one-line account of what is wrong, for dead letters, logs and 4xx replies."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'event'}: {problem['msg']}" for problem in error.errors()
    )
