"""Schemathesis over each service's OpenAPI, against the real service over real HTTP (with its real database and
the session's broker): requests made from the schema, valid and not, each answered without a server error and
as the schema says. Sent as the project's administrator, with the path naming the project's real records, so
that the requests reach the use cases rather than stopping at "not found".

The number of examples is bounded so the test stays fast; a failure prints schemathesis's report, with a curl
command that repeats the failing request.
"""

import asyncio
import json
import sys
from pathlib import Path

from tests.security.system import SERVICES, System

EXAMPLES_PER_OPERATION = 10
# The last and first days a date can have, the epoch and a leap day: each date in a body is one of them about a
# third of the time (the first most often, as Hypothesis favours the start of a list).
EDGE_DATES = ["9999-12-31", "0001-01-01", "1970-01-01", "2028-02-29"]
EDGE_DATE_PROBABILITY = 0.3
CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance")


async def test_no_request_made_from_a_service_schema_gets_a_server_error_or_an_answer_outside_it(system, tmp_path):
    # The periods service last: its requests may close the period that the others' requests name.
    reports = [await _fuzz(system, service, tmp_path / service) for service in reversed(SERVICES)]
    failed = [report for report in reports if report is not None]
    assert failed == [], "\n\n".join(failed)


async def _fuzz(system: System, service: str, folder: Path) -> str | None:
    """Schemathesis's report when it found a problem with `service`, None when it found none."""
    config = _write_config(system, folder)
    base_url = system.base_url(service)
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--url",
        base_url,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--checks",
        ",".join(CHECKS),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        cwd=folder,  # schemathesis keeps its cache in the folder it runs in
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await run.communicate()
    if run.returncode == 0:
        return None
    return f"--- schemathesis found problems with the {service} service ---\n{output.decode()}"


def _write_config(system: System, folder: Path) -> Path:
    """The session of the project's administrator on every request; the path naming the project's records and
    the contact's invite; and, now and then, dates at the edges of what a date can be in the bodies."""
    records = {
        "path.project_id": system.project,
        "path.period_id": system.period_id,
        "path.commitment_id": system.other_commitment_id,  # the contact's has its claim; this one has none yet
        "path.claim_id": system.claim_id,
        "path.token": system.invite_tokens["contact"],  # the invite page's (the password page is not in a schema)
    }
    edge_dates = {"dictionary": "edge_dates", "probability": EDGE_DATE_PROBABILITY}
    parameters = records | {f"body.{name}": edge_dates for name in ("start_date", "end_date", "due_date")}
    config = {
        "headers": {"Authorization": f"Bearer {system.session_token('admin')}"},
        "dictionaries": {"edge_dates": {"values": EDGE_DATES}},
        "parameters": parameters,
    }
    folder.mkdir()
    path = folder / "schemathesis.toml"
    path.write_text("".join(f"{name} = {_toml(value)}\n" for name, value in config.items()))
    return path


def _toml(value) -> str:
    """TOML for the strings, numbers, lists and tables of the config (JSON's strings and lists are TOML's)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(name)} = {_toml(item)}" for name, item in value.items()) + " }"
    return json.dumps(value)
