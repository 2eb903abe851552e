"""Static checks of docker-compose.yml and deploy/Dockerfile: what production starts, read without Docker."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.keys import new_production_keys

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"

SERVICE_PORTS = {"periods": 8081, "notifier": 8082, "responses": 8083, "claims": 8084}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def environment_of(service: dict) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two Compose forms it is written in."""
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(entry.split("=", 1) if "=" in entry else (entry, None) for entry in environment)
    return {name: None if value is None else str(value) for name, value in environment.items()}


def published_ports(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs, from the short "8081:8081" form or the long mapping form."""
    pairs = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            *_, host, container = str(port).split(":")
            pairs.add((int(host), int(container.split("/")[0])))
    return pairs


def test_compose_file_uses_the_compose_spec_without_a_version_key(compose):
    assert "version" not in compose


def test_compose_runs_the_four_services_the_init_step_and_their_infrastructure(compose):
    assert set(SERVICE_PORTS) | {"init", "kafka", "postgres", "mailpit"} <= set(compose["services"])


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_runs_its_own_python_module(compose, name):
    assert compose["services"][name]["command"] == ["python", "-m", f"services.{name}"]


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_module_it_runs_exists_in_the_repo(name):
    assert (REPO / "services" / name / "__main__.py").is_file()


@pytest.mark.parametrize(("name", "port"), SERVICE_PORTS.items())
def test_each_service_listens_on_its_port_and_publishes_it(compose, name, port):
    service = compose["services"][name]
    assert environment_of(service)["HTTP_PORT"] == str(port)
    assert (port, port) in published_ports(service)


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_listens_on_every_interface_of_its_container(compose, name):
    assert environment_of(compose["services"][name])["HTTP_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", [*SERVICE_PORTS, "init"])
def test_every_service_and_the_init_step_reach_postgres_and_kafka_inside_the_network(compose, name):
    environment = environment_of(compose["services"][name])
    assert re.fullmatch(
        r"postgresql://postgres:\$\{POSTGRES_PASSWORD:-[^}]*\}@postgres:5432/postgres",
        environment["DATABASE_URL"],
    )
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_starts_only_after_init_completed_successfully(compose, name):
    depends_on = compose["services"][name]["depends_on"]
    assert depends_on["init"]["condition"] == "service_completed_successfully"


def test_init_creates_topics_and_databases_once_kafka_and_postgres_are_healthy(compose):
    init = compose["services"]["init"]
    assert init["command"] == ["itb", "init"]
    assert init["restart"] == "no"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init["depends_on"]["postgres"]["condition"] == "service_healthy"


def demanded(value: str | None, variable: str) -> bool:
    """`${VAR:?message}` or `${VAR?message}` stops Compose when VAR is unset; `:-` would supply a default."""
    return value is not None and re.fullmatch(rf"\$\{{{variable}:?\?[^}}]+\}}", value) is not None


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_production_services_demand_a_secret_key_and_the_session_public_key_with_no_default(compose, name):
    environment = environment_of(compose["services"][name])
    assert environment["ENVIRONMENT"] == "production"
    assert demanded(environment["SECRET_KEY"], "SECRET_KEY")
    assert demanded(environment["SESSION_PUBLIC_KEY"], "SESSION_PUBLIC_KEY")


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_only_the_claims_service_is_given_the_key_that_signs_sessions(compose, name):
    private_key = environment_of(compose["services"][name]).get("SESSION_PRIVATE_KEY")
    if name == "claims":
        assert demanded(private_key, "SESSION_PRIVATE_KEY")
    else:
        assert private_key is None


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_the_previous_keys_of_a_rotation_are_passed_on_when_set_and_empty_otherwise(compose, name):
    environment = environment_of(compose["services"][name])
    for variable in ("SECRET_KEY_PREVIOUS", "SESSION_PUBLIC_KEY_PREVIOUS"):
        assert environment[variable] == f"${{{variable}:-}}"


def test_the_env_example_names_every_key_compose_demands(compose):
    example = (REPO / ".env.example").read_text()
    demanded_anywhere = {
        name
        for service in SERVICE_PORTS
        for name, value in environment_of(compose["services"][service]).items()
        if value and value.startswith("${") and "KEY" in name
    }
    assert demanded_anywhere <= {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_reports_readiness_through_its_readyz_page(compose, name):
    check = " ".join(compose["services"][name]["healthcheck"]["test"])
    assert "/readyz" in check
    assert "curl" not in check


@pytest.mark.parametrize("name", [*SERVICE_PORTS, "init"])
def test_init_and_the_services_run_the_image_built_from_the_repo_dockerfile(compose, name):
    build = compose["services"][name]["build"]
    assert build["context"] == "."
    assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_kafka_refuses_to_create_topics_on_first_use(compose):
    assert environment_of(compose["services"]["kafka"])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_dockerfile_copies_the_code_and_installs_the_project_as_a_non_root_user():
    instructions = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()]
    copied = {
        Path(source).name
        for line in instructions
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }
    assert {"pyproject.toml", "shared", "services", "deploy"} <= copied
    assert any(re.search(r"pip install --no-cache-dir \.(\s|$)", line) for line in instructions)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "the image must name the user it runs as"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_compose_file_is_valid_for_docker_compose():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("The docker client is not installed, so `docker compose config` cannot run here.")
    engine = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    if engine.returncode != 0:
        pytest.skip("No Docker engine answers `docker info`, so `docker compose config` is not run here.")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=REPO,
        env={**os.environ, **new_production_keys()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
