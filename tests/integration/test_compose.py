"""compose.yaml validates with the real Compose v2 binary and wires services safely."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import (
    ROOT,
    broken_healthy_dependencies,
    compose_or_skip,
    environment,
    run_compose,
)

pytestmark = pytest.mark.integration

COMPOSE_FILE = ROOT / "compose.yaml"

# Dummy values for every ${VAR:?...} in compose.yaml; nothing here is ever used for real.
REQUIRED_VARIABLES = {
    "RABBITMQ_PASSWORD": "dummy-rabbitmq-password",
    "RABBITMQ_ADMIN_PASSWORD": "dummy-admin-password",
    "RABBITMQ_ERLANG_COOKIE": "DUMMYCOOKIE",
    "DATABASE_URL": "postgresql://beatkeeper:dummy@db.invalid:5432/beatkeeper",
    "BEATKEEPER_SECRET_KEY": "dummy-secret-key-" + "x" * 32,
    "BEATKEEPER_FLOWER_BASIC_AUTH": "admin:dummy-flower-password",
}

APP_SERVICES = ("rabbitmq", "web", "worker", "beat", "flower")


@pytest.fixture(scope="module")
def compose() -> list[str]:
    return compose_or_skip()


def _run_config(
    compose: list[str], tmp_path: Path, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return run_compose(compose, COMPOSE_FILE, tmp_path, variables, "config", "-q")


def _load_compose_file() -> dict[str, Any]:
    # safe_load resolves the x-app anchor and the << merge keys.
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "compose.yaml is not a mapping"
    return data


def test_compose_file_validates_with_the_compose_v2_binary(
    compose: list[str], tmp_path: Path
) -> None:
    result = _run_config(compose, tmp_path, REQUIRED_VARIABLES)

    assert result.returncode == 0, f"{' '.join(compose)} config -q failed:\n{result.stderr}"


@pytest.mark.parametrize("missing", sorted(REQUIRED_VARIABLES))
def test_compose_file_refuses_to_validate_without_a_required_variable(
    compose: list[str], tmp_path: Path, missing: str
) -> None:
    variables = {key: value for key, value in REQUIRED_VARIABLES.items() if key != missing}

    result = _run_config(compose, tmp_path, variables)

    assert result.returncode != 0, f"config -q passed with {missing} unset"
    assert missing in result.stderr, f"error does not name {missing}:\n{result.stderr}"


def test_compose_file_defines_the_app_services() -> None:
    services = _load_compose_file()["services"]

    missing = [name for name in APP_SERVICES if name not in services]
    assert not missing, f"compose.yaml lacks services: {missing}"


def test_every_service_healthy_dependency_points_at_a_service_with_a_healthcheck() -> None:
    services = _load_compose_file()["services"]

    broken = broken_healthy_dependencies(services)

    assert not broken, f"service_healthy on a service without a healthcheck: {broken}"


def test_rabbitmq_runs_with_a_dedicated_user_and_vhost_instead_of_guest() -> None:
    data = _load_compose_file()
    rabbitmq = environment(data["services"]["rabbitmq"])

    # The image creates guest/guest when RABBITMQ_DEFAULT_USER is unset.
    assert rabbitmq.get("RABBITMQ_DEFAULT_USER"), "RABBITMQ_DEFAULT_USER is unset (guest)"
    assert "guest" not in rabbitmq["RABBITMQ_DEFAULT_USER"]
    assert rabbitmq.get("RABBITMQ_DEFAULT_PASS"), "RABBITMQ_DEFAULT_PASS is unset"
    assert "guest" not in rabbitmq["RABBITMQ_DEFAULT_PASS"]
    assert rabbitmq.get("RABBITMQ_DEFAULT_VHOST") not in (None, "", "/")
    for name, service in data["services"].items():
        for key, value in environment(service).items():
            if key.endswith("_URL") and "rabbitmq" in value:
                assert "guest" not in value, f"{name}: {key} uses the guest account"


def test_every_published_port_listens_on_loopback_only() -> None:
    services = _load_compose_file()["services"]

    published = {
        f"{name}: {port}": str(port).startswith("127.0.0.1:")
        for name, service in services.items()
        for port in service.get("ports") or []
    }

    assert published, "compose.yaml publishes no port"
    assert all(published.values()), f"published on every interface: {published}"


def test_worker_healthcheck_pings_the_prefixed_node_name() -> None:
    test = _load_compose_file()["services"]["worker"]["healthcheck"]["test"]

    assert "beatkeeper@$$HOSTNAME" in " ".join(test)


def test_scaling_knobs_reach_the_containers_that_read_them() -> None:
    services = _load_compose_file()["services"]

    for name in ("web", "worker"):
        variables = environment(services[name])
        assert "BEATKEEPER_WEB_WORKERS" in variables, name
        assert "BEATKEEPER_WORKER_CONCURRENCY" in variables, name
    assert "$${BEATKEEPER_WEB_WORKERS}" in " ".join(services["web"]["command"])
    assert services["worker"]["deploy"]["replicas"] == "${BEATKEEPER_WORKER_INSTANCES:-2}"


def test_beatkeeper_connects_as_its_own_vhost_limited_user_not_the_administrator() -> None:
    services = _load_compose_file()["services"]
    admin = environment(services["rabbitmq"])["RABBITMQ_DEFAULT_USER"]
    init = environment(services["rabbitmq-init"])
    script = (ROOT / "deploy" / "rabbitmq" / "init.sh").read_text()

    assert init["RABBITMQ_USER"] != admin
    assert init["RABBITMQ_PEER_NODES"] == "", "a single node has no peers to wait for"
    assert 'set_permissions -p "$RABBITMQ_VHOST" "$RABBITMQ_USER"' in script
    assert "delete_user guest" in script
    for name in ("web", "worker", "beat", "flower", "migrate"):
        url = environment(services[name])["BEATKEEPER_BROKER_URL"]
        assert url.startswith(f"amqp://{init['RABBITMQ_USER']}:"), name
        assert url.endswith(f"/{init['RABBITMQ_VHOST']}"), name
    migrate = services["migrate"]["depends_on"]
    assert migrate["rabbitmq-init"]["condition"] == "service_completed_successfully"
