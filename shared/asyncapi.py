"""A service's events as an AsyncAPI 3 document: what it publishes and what it consumes, each with its pydantic
contract's schema. Served at `/asyncapi` (a page) and `/asyncapi.json`, and kept in `docs/asyncapi/`:

    python -m shared.asyncapi docs     # `make asyncapi`; a test fails while the kept copies are stale

It also writes the catalogue of every event, `docs/events.md`.

A service's real consumer reads each topic with one FastStream subscriber and sends each event to its route by
the CloudEvents `type` (shared/messaging.py), so FastStream cannot see the payloads there. The document is
therefore built from a broker that is never started, declaring a handler per consumed event type and a
publisher per published event, from the same routes and contracts the service runs with. Each message travels
as a CloudEvent; its `data` is the schema shown.
"""

import importlib
import inspect
import json
import sys
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from faststream.specification.asyncapi.site import get_asyncapi_html

from shared.clock import Clock
from shared.contracts.base import Contract, PublishedEvent
from shared.contracts.topics import SERVICES

# The modules whose events some service publishes: imported so that every contract is known.
_CONTRACT_MODULES = ("accounts", "claims", "invites", "periods", "responses")
# What the document names as the broker: production's (docker-compose.yml), so the kept copy is the same anywhere.
_DOCUMENTED_SERVER = "kafka:9092"
_DESCRIPTION = (
    "Every message is a CloudEvents 1.0 event (structured or binary mode) whose `data` is the payload shown, keyed "
    "by its aggregate's id. Unknown fields are ignored by readers; a message that cannot be read goes to the "
    "consumer's dead-letter topic `dlq.<service>`."
)


def published_events(service: str) -> list[type[PublishedEvent]]:
    """The event types the service publishes, by their contracts (`PUBLISHER`)."""
    for module in _CONTRACT_MODULES:
        importlib.import_module(f"shared.contracts.{module}")
    found, unseen = [], list(PublishedEvent.__subclasses__())
    while unseen:
        contract = unseen.pop()
        unseen.extend(contract.__subclasses__())
        if "TYPE" in vars(contract) and contract.PUBLISHER == service:
            found.append(contract)
    return sorted(found, key=lambda contract: contract.TYPE)


def asyncapi_document(definition) -> dict:
    """The service's AsyncAPI 3 document (`definition`: its `shared.service.ServiceDefinition`)."""
    from shared.service import consumed_routes  # the service module serves this document

    documented = KafkaBroker(_DOCUMENTED_SERVER)
    for topic, routes in sorted(consumed_routes(definition, Clock()).items()):
        subscriber = documented.subscriber(
            topic,
            group_id=f"{definition.name}.{topic}",
            title=f"{definition.name} consumes {topic}",
            description="Event types without a handler here are skipped.",
        )
        for event_type, route in sorted(routes.items()):
            subscriber(_handler_documenting(event_type, route.model))
    for event in published_events(definition.name):
        key = f"Key: the {event.AGGREGATE_TYPE.replace('_', ' ')} id."
        documented.publisher(
            event.TOPIC,
            title=event.TYPE,
            description=f"{inspect.cleandoc(event.__doc__ or '')} {key}".lstrip(),
            schema=event,
        )
    specification = AsyncAPI(
        documented, title=definition.title, version="1", description=_DESCRIPTION, schema_version="3.0.0"
    )
    return json.loads(specification.to_specification().to_json())


ASYNCAPI_PAGE = "/asyncapi"
# The page's script and style, from the CDN the API docs already load from (its Content-Security-Policy).
_COMPONENT = "https://cdn.jsdelivr.net/npm/@asyncapi/react-component@3.1.5"


def asyncapi_router(definition) -> APIRouter:
    router = APIRouter(tags=["events"])
    document: dict = {}

    def built() -> dict:
        if not document:
            document.update(asyncapi_document(definition))
        return document

    @router.get(ASYNCAPI_PAGE, response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        html = get_asyncapi_html(
            _Document(built()),
            asyncapi_js_url=f"{_COMPONENT}/browser/standalone/index.js",
            asyncapi_css_url=f"{_COMPONENT}/styles/default.min.css",
        )
        return HTMLResponse(html)

    @router.get(f"{ASYNCAPI_PAGE}.json", summary="The events this service publishes and consumes (AsyncAPI 3)")
    async def as_json() -> JSONResponse:
        return JSONResponse(built())

    return router


class _Document:
    """What FastStream's AsyncAPI page reads of a specification: its title and its JSON."""

    def __init__(self, document: dict):
        self._document = document
        self.title = document["info"]["title"]

    def to_json(self) -> str:
        return json.dumps(self._document)


def _handler_documenting(event_type: str, model: type[Contract]):
    async def handle(event) -> None:
        """Never called: it shows FastStream the payload."""

    handle.__annotations__ = {"event": model, "return": None}
    handle.__name__ = handle.__qualname__ = event_type.replace(".", "_")
    handle.__doc__ = model.__doc__
    return handle


def _definitions() -> dict:
    return {service: importlib.import_module(f"services.{service}.app").definition for service in SERVICES}


def event_catalogue() -> str:
    """Every event on the topics, by topic: its type, who publishes it, its key, who consumes it, and its fields
    (Markdown, kept as docs/events.md)."""
    from shared.contracts.erp import CommitmentUpserted, ProjectMemberRemoved, ProjectMemberUpserted
    from shared.service import consumed_routes

    consumers: dict[str, list[str]] = {}
    for service, definition in _definitions().items():
        for routes in consumed_routes(definition, Clock()).values():
            for event_type in routes:
                consumers.setdefault(event_type, []).append(service)
    erp = [
        (event, "the ERP", "the record's id")
        for event in (CommitmentUpserted, ProjectMemberUpserted, ProjectMemberRemoved)
    ]
    ours = [
        (event, event.PUBLISHER, f"the {event.AGGREGATE_TYPE.replace('_', ' ')} id")
        for service in SERVICES
        for event in published_events(service)
    ]
    topic_of = {CommitmentUpserted: "erp.commitments", ProjectMemberUpserted: "erp.directory"}
    topic_of[ProjectMemberRemoved] = "erp.directory"
    lines = [
        "# The events",
        "",
        "Generated from the contracts in `shared/contracts/` by `make asyncapi` (a test fails while this file is",
        "stale). " + _DESCRIPTION,
        "",
    ]
    by_topic: dict[str, list] = {}
    for event, publisher, key in erp + ours:
        by_topic.setdefault(topic_of.get(event) or event.TOPIC, []).append((event, publisher, key))
    for topic in sorted(by_topic):
        lines += [f"## `{topic}`", "", "| type | published by | key | consumed by | fields |", "|---|---|---|---|---|"]
        for event, publisher, key in sorted(by_topic[topic], key=lambda entry: entry[0].TYPE):
            fields = ", ".join(
                f"`{name}`" + ("" if info.is_required() else "?") for name, info in event.model_fields.items()
            )
            consumed = ", ".join(sorted(consumers.get(event.TYPE, []))) or "none yet"
            lines.append(f"| `{event.TYPE}` | {publisher} | {key} | {consumed} | {fields} |")
        lines.append("")
    lines.append("A field marked `?` may be left out; readers ignore fields they do not know.")
    return "\n".join(lines) + "\n"


def write_documents(folder: Path, catalogue: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service, definition in _definitions().items():
        path = folder / f"{service}.json"
        path.write_text(json.dumps(asyncapi_document(definition), indent=2, sort_keys=True) + "\n")
        written.append(path)
    catalogue.write_text(event_catalogue())
    return [*written, catalogue]


if __name__ == "__main__":
    docs = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for path in write_documents(docs / "asyncapi", docs / "events.md"):
        print(f"Wrote {path}")
