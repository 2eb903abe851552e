"""The AsyncAPI documents: built from the contracts the services run with, and the kept copies current."""

import json
from pathlib import Path

import pytest

from services.periods.app import definition as periods
from shared.asyncapi import asyncapi_document, event_catalogue, published_events
from shared.contracts.periods import BillingPeriodOpened
from shared.contracts.topics import SERVICES
from tests.support import REPO


@pytest.mark.parametrize("service", SERVICES)
def test_the_kept_asyncapi_document_is_the_one_the_service_serves(service):
    kept = REPO / "docs" / "asyncapi" / f"{service}.json"
    definition = __import__(f"services.{service}.app", fromlist=["definition"]).definition
    assert kept.exists(), f"{kept.relative_to(REPO)} is missing: run `make asyncapi`"
    assert json.loads(kept.read_text()) == asyncapi_document(definition), (
        f"{kept.relative_to(REPO)} is stale: run `make asyncapi` and commit the result"
    )


def test_a_document_shows_the_contracts_schemas_of_what_the_service_publishes_and_consumes():
    document = asyncapi_document(periods)
    assert document["asyncapi"] == "3.0.0"
    schemas = document["components"]["schemas"]
    assert {"due_at", "opened_by", "period_id"} <= set(schemas["BillingPeriodOpened"]["properties"])
    opened = document["channels"]["billing.period.opened.v1"]
    assert opened["address"] == "billing.periods"
    directory = document["components"]["messages"]["periods consumes erp.directory:SubscribeMessage"]
    assert directory["payload"]["oneOf"] == [
        {"$ref": "#/components/schemas/ProjectMemberRemoved"},
        {"$ref": "#/components/schemas/ProjectMemberUpserted"},
    ]
    assert BillingPeriodOpened in published_events("periods")
    assert all(event.PUBLISHER == "notifier" for event in published_events("notifier"))


def test_the_kept_documents_are_the_only_ones_in_their_folder():
    assert sorted(path.stem for path in Path(REPO / "docs" / "asyncapi").glob("*.json")) == sorted(SERVICES)


def test_the_kept_event_catalogue_is_current():
    kept = REPO / "docs" / "events.md"
    assert kept.read_text() == event_catalogue(), "docs/events.md is stale: run `make asyncapi` and commit the result"
    assert (
        "| `billing.period.opened.v1` | periods | the billing period id | claims, notifier, responses |"
        in kept.read_text()
    )
