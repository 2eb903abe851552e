"""Static checks of docker-compose.yml and deploy/Dockerfile: what production starts, read without Docker."""

import os
import re
import shutil
import subprocess
import time
import tomllib
from datetime import UTC, datetime
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
def test_each_service_listens_on_its_port_and_publishes_none_so_that_it_scales(compose, name, port):
    service = compose["services"][name]
    assert environment_of(service)["HTTP_PORT"] == str(port)
    assert published_ports(service) == set(), "a fixed host port stops `docker compose up --scale`"
    assert "container_name" not in service


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_listens_on_every_interface_of_its_container_and_trusts_the_proxy_alone(compose, name):
    environment = environment_of(compose["services"][name])
    assert environment["HTTP_HOST"] == "0.0.0.0"
    assert environment["FORWARDED_ALLOW_IPS"] == "*"  # safe because nothing but the proxy reaches it


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_each_service_connects_as_its_own_role_to_its_own_database_with_a_demanded_password(compose, name):
    environment = environment_of(compose["services"][name])
    password = f"{name.upper()}_DB_PASSWORD"
    url = environment["DATABASE_URL"]
    assert url.startswith(f"postgresql://{name}:${{{password}:?") and url.endswith(f"}}@postgres:5432/{name}")
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_postgres_makes_a_role_and_database_per_service_on_first_start(compose):
    postgres = compose["services"]["postgres"]
    environment = environment_of(postgres)
    assert demanded(environment["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD")
    for name in SERVICE_PORTS:
        assert demanded(environment[f"{name.upper()}_DB_PASSWORD"], f"{name.upper()}_DB_PASSWORD")
    assert "./deploy/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    script = (REPO / "deploy" / "postgres" / "create-service-databases.sh").read_text()
    assert "for service in periods notifier responses claims" in script
    assert 'CREATE DATABASE :"role" OWNER :"role"' in script and "REVOKE ALL ON DATABASE" in script


def test_init_migrates_each_database_as_its_services_role_and_reaches_kafka(compose):
    environment = environment_of(compose["services"]["init"])
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    for name in SERVICE_PORTS:
        assert environment[f"{name.upper()}_DATABASE_URL"].startswith(f"postgresql://{name}:")
    assert "DATABASE_URL" not in environment, "no superuser connection"


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_mail_goes_to_the_smtp_server_the_environment_names_and_mailpit_is_only_for_trying_out(compose, name):
    environment = environment_of(compose["services"][name])
    assert demanded(environment["SMTP_HOST"], "SMTP_HOST")
    assert demanded(environment["MAIL_FROM"], "MAIL_FROM")
    for variable in ("SMTP_PORT", "SMTP_STARTTLS", "SMTP_USERNAME", "SMTP_PASSWORD"):
        assert environment[variable].startswith(f"${{{variable}:-")
    assert compose["services"]["mailpit"]["profiles"] == ["local"]


@pytest.mark.parametrize("name", SERVICE_PORTS)
def test_every_public_url_is_the_proxys_one_https_origin(compose, name):
    environment = environment_of(compose["services"][name])
    # The same origin for every service (one of them says what is missing when PUBLIC_HOST is unset).
    urls = {re.sub(r":\?[^}]*", "", environment[f"{service.upper()}_PUBLIC_URL"]) for service in SERVICE_PORTS}
    assert urls == {"https://${PUBLIC_HOST}"}


def test_the_proxy_alone_publishes_ports_and_starts_once_the_pages_services_are_healthy(compose):
    proxy = compose["services"]["proxy"]
    assert published_ports(proxy) == {(80, 80), (443, 443)}
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    for name in ("periods", "responses", "claims"):
        assert proxy["depends_on"][name]["condition"] == "service_healthy"


def caddy_routes() -> list[tuple[list[str], list[str], str | None]]:
    """The Caddyfile's handle blocks in order: (paths, path regexps, upstream service or None for a refusal)."""
    text = (REPO / "deploy" / "Caddyfile").read_text()
    matchers: dict[str, tuple[list[str], list[str]]] = {}
    for name, kind, rest in re.findall(r"^\s*@(\w+) (path|path_regexp) (.+)$", text, re.MULTILINE):
        paths, patterns = matchers.setdefault(name, ([], []))
        (paths if kind == "path" else patterns).extend(rest.split() if kind == "path" else [rest.strip()])
    routes = []
    for matcher, body in re.findall(r"^\s*handle(?: @(\w+))? \{(.*?)^\s*\}", text, re.MULTILINE | re.DOTALL):
        upstream = re.search(r"reverse_proxy (\w+):\d+", body)
        paths, patterns = matchers.get(matcher, ([], [])) if matcher else (["*"], [])
        routes.append((paths, patterns, upstream.group(1) if upstream else None))
    return routes


def routed_to(path: str) -> str | None:
    # Caddy orders handle blocks by their matchers; ours do not overlap, and the one without a matcher is last.
    for paths, patterns, upstream in caddy_routes():
        for pattern in paths:
            if pattern == "*" or path == pattern or (pattern.endswith("/*") and path.startswith(pattern[:-1])):
                return upstream
        if any(re.search(pattern, path) for pattern in patterns):
            return upstream
    return None


def test_the_proxy_sends_each_of_the_services_routes_to_that_service():
    from fastapi.routing import APIRoute

    from services.claims.app import definition as claims
    from services.periods.app import definition as periods
    from services.responses.app import definition as responses

    shared_routes = {"/healthz", "/readyz", "/metrics", "/asyncapi", "/asyncapi.json", "/openapi.json", "/docs"}
    for definition in (periods, responses, claims):
        for router in definition.routers:
            for route in router.routes:
                if isinstance(route, APIRoute) and route.path not in shared_routes:
                    example = re.sub(r"\{[^}]+\}", "x1", route.path)
                    assert routed_to(example) == definition.name, f"{route.path} of {definition.name}"
    for internal in ("/metrics", "/readyz", "/healthz"):
        assert routed_to(internal) is None, f"{internal} stays on the operators' network"
    assert routed_to("/static/pages.css") == "periods"


@pytest.mark.parametrize("name", ["kafka", "postgres", "mailpit", "proxy", *SERVICE_PORTS])
def test_every_long_running_container_has_a_healthcheck(compose, name):
    assert compose["services"][name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", ["kafka", "postgres", "mailpit", "proxy"])
def test_every_image_from_elsewhere_is_pinned_to_a_version(compose, name):
    image = compose["services"][name]["image"]
    assert re.search(r":v?\d+\.\d+(\.\d+)?$|@sha256:[0-9a-f]{64}$", image), image


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


def test_dockerfile_builds_in_two_stages_from_a_pinned_base_with_hashed_packages_and_runs_as_a_non_root_user():
    instructions = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()]
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim@sha256:[0-9a-f]{64}$", "\n".join(instructions), re.MULTILINE)
    assert [line for line in instructions if line.startswith("FROM ")] == [
        "FROM ${PYTHON_IMAGE} AS build",
        "FROM ${PYTHON_IMAGE}",
    ]
    copied = {
        Path(source).name
        for line in instructions
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
        if not source.startswith("--")
    }
    assert {"requirements.lock", "pyproject.toml", "shared", "services", "deploy"} <= copied
    installs = [line for line in instructions if "pip install" in line]
    # The packages from the lock, checked against their hashes, in a layer of their own before the code.
    assert installs[0] == "RUN pip install --require-hashes --no-deps -r requirements.lock"
    assert instructions.index(installs[0]) < instructions.index("COPY shared ./shared")
    assert not [line for line in installs if "[" in line], "no extra (the local stack's) in the image"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_the_lock_pins_every_dependency_with_hashes_and_none_of_the_local_stacks_packages():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = (REPO / "requirements.lock").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", lock, re.MULTILINE))
    normalised = {re.sub(r"[-_.]+", "-", name).lower() for name in pinned}
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in normalised, f"{name} is not in requirements.lock: make lock"
    for requirement in project["optional-dependencies"]["local"]:
        name = re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() not in normalised, f"{name} (local only) is in the lock"
    blocks = re.findall(r"^[A-Za-z0-9_.-]+==\S+ \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", lock, re.MULTILINE)
    assert len(blocks) == len(pinned), "every pinned package carries its hashes"


def docker_engine() -> str:
    """The docker client, where an engine answers it; the test is skipped, saying why, elsewhere."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("The docker client is not installed, so the compose file is checked statically only here.")
    if subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False).returncode != 0:
        pytest.skip("No Docker engine answers `docker info`, so the compose file is checked statically only here.")
    return docker


def test_compose_file_is_valid_for_docker_compose():
    docker = docker_engine()
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=REPO,
        env={**os.environ, **new_production_keys(), **TRIAL_SETTINGS},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# The settings of a trial run on one machine: Mailpit as the mail server, Caddy's own CA for localhost.
TRIAL_SETTINGS = {
    "PUBLIC_HOST": "localhost",
    "SMTP_HOST": "mailpit",
    "SMTP_PORT": "1025",
    "SMTP_STARTTLS": "false",
    "MAIL_FROM": "Invite to Bill <invites@builder.example>",
}


@pytest.mark.slow
def test_a_billing_round_runs_through_the_compose_stack_and_its_proxy():
    """Where Docker runs: the production stack (with Mailpit), the demo ERP data published to its Kafka, the demo
    administrator logging in through the proxy and opening a period there, and the invites reaching Mailpit."""
    import httpx

    from deploy.demo import ADMINISTRATOR_EMAIL, DEMO_PROJECT_ID, demo_period_dates

    docker = docker_engine()
    environment = {**os.environ, **new_production_keys(), **TRIAL_SETTINGS}
    compose = [docker, "compose", "-f", str(COMPOSE_FILE), "-p", "itb-compose-test", "--profile", "local"]

    def run(*arguments: str, stdin: str | None = None, timeout: float = 300) -> str:
        result = subprocess.run(
            [*compose, *arguments],
            cwd=REPO,
            env=environment,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"docker compose {' '.join(arguments)}: {result.stderr[-3000:]}"
        return result.stdout

    try:
        run("up", "--detach", "--build", "--wait", timeout=900)
        publish = (
            "import asyncio; from deploy.demo import publish_demo_data; "
            "print(asyncio.run(publish_demo_data('kafka:9092')))"
        )
        run("run", "--rm", "--no-deps", "init", "python", "-c", publish)
        password = "a password for the trial"
        # The claims service's database knows the administrator once the directory events have reached it.
        deadline = time.monotonic() + 120
        while True:
            result = subprocess.run(
                [
                    *compose,
                    "run",
                    "--rm",
                    "--no-deps",
                    "claims",
                    "itb",
                    "users",
                    "set-password",
                    ADMINISTRATOR_EMAIL,
                    "--password-stdin",
                ],
                cwd=REPO,
                env=environment,
                input=password + "\n",
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode == 0 or time.monotonic() > deadline:
                assert result.returncode == 0, result.stderr[-2000:]
                break
            time.sleep(2)
        with httpx.Client(base_url="https://localhost", verify=False, timeout=30) as proxy:
            session = proxy.post("/api/sessions", json={"email": ADMINISTRATOR_EMAIL, "password": password})
            assert session.status_code == 201, session.text
            headers = {"Authorization": f"Bearer {session.json()['token']}"}
            dates = demo_period_dates(datetime.now(UTC))
            deadline = time.monotonic() + 120
            while (
                opened := proxy.post(f"/api/projects/{DEMO_PROJECT_ID}/billing-periods", json=dates, headers=headers)
            ).status_code == 404 and time.monotonic() < deadline:
                time.sleep(2)  # the project's commitments are still on their way to the periods service
            assert opened.status_code == 201, opened.text
            assert proxy.get("/metrics").status_code == 404, "the metrics stay on the operators' network"
        deadline = time.monotonic() + 120
        with httpx.Client(base_url="http://127.0.0.1:8025") as mailpit:
            while (total := mailpit.get("/api/v1/messages").json()["messages_count"]) < 4:
                assert time.monotonic() < deadline, f"only {total} invites reached Mailpit"
                time.sleep(2)
            subjects = {message["Subject"] for message in mailpit.get("/api/v1/messages").json()["messages"]}
        assert any("has invited you to bill" in subject for subject in subjects), subjects
    finally:
        subprocess.run([*compose, "down", "--volumes"], cwd=REPO, env=environment, capture_output=True, timeout=300)
