"""deploy/compose.cluster.yaml (many hosts) validates with the Compose v2 binary, and what it
renders is complete and safe: every Beatkeeper process's environment passes the production
settings checks, only the load balancer's web ports face other machines, no guest account,
three RabbitMQ nodes with queues replicated on all three, two beats."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.compose import (
    ROOT,
    broken_healthy_dependencies,
    compose_or_skip,
    environment,
    run_compose,
)
from webapp.settings import WebSettings

pytestmark = pytest.mark.integration

CLUSTER_FILE = ROOT / "deploy" / "compose.cluster.yaml"
BEATKEEPER_SERVICES = ("migrate", "web", "worker", "beat")
RABBIT_NODES = ("rabbit1", "rabbit2", "rabbit3")
# The load balancer's HTTPS and HTTP (redirect) ports are the only ones on every interface.
PUBLIC_PORTS = {("lb", 8443), ("lb", 8080)}

REQUIRED_VARIABLES = {
    "RABBITMQ_PASSWORD": "dummy-rabbitmq-password",
    "RABBITMQ_ADMIN_PASSWORD": "dummy-admin-password",
    "RABBITMQ_ERLANG_COOKIE": "DUMMYCOOKIE",
    "POSTGRES_PASSWORD": "dummy-postgres-password",
    "BEATKEEPER_SECRET_KEY": "dummy-secret-key-" + "x" * 32,
    "BEATKEEPER_TLS_CERT_DIR": "/etc/ssl/beatkeeper",
}


@pytest.fixture(scope="module")
def compose() -> list[str]:
    return compose_or_skip()


@pytest.fixture(scope="module")
def rendered(compose: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as Compose resolves it (every profile, variables filled in)."""
    tmp = tmp_path_factory.mktemp("cluster")
    result = run_compose(
        compose, CLUSTER_FILE, tmp, REQUIRED_VARIABLES, "--profile", "all", "config",
        "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_cluster_file_validates_with_the_compose_v2_binary(
    compose: list[str], tmp_path: Path
) -> None:
    result = run_compose(compose, CLUSTER_FILE, tmp_path, REQUIRED_VARIABLES, "config", "-q")

    assert result.returncode == 0, f"{' '.join(compose)} config -q failed:\n{result.stderr}"


@pytest.mark.parametrize("missing", sorted(REQUIRED_VARIABLES))
def test_the_cluster_file_refuses_to_validate_without_a_required_variable(
    compose: list[str], tmp_path: Path, missing: str
) -> None:
    variables = {key: value for key, value in REQUIRED_VARIABLES.items() if key != missing}

    result = run_compose(compose, CLUSTER_FILE, tmp_path, variables, "config", "-q")

    assert result.returncode != 0, f"config -q passed with {missing} unset"
    assert missing in result.stderr, f"error does not name {missing}:\n{result.stderr}"


def test_every_profile_together_is_the_whole_topology(rendered: dict[str, Any]) -> None:
    services = rendered["services"]

    expected = {*RABBIT_NODES, "rabbitmq-init", "postgres", "lb", *BEATKEEPER_SERVICES}
    assert set(services) == expected


@pytest.mark.parametrize("name", BEATKEEPER_SERVICES)
def test_every_beatkeeper_process_gets_a_complete_production_environment(
    rendered: dict[str, Any], name: str
) -> None:
    env = environment(rendered["services"][name])

    # Raises (naming the variable) on anything missing, default or unsafe outside development.
    settings = WebSettings.from_env(env)

    assert settings.jobs.broker.environment == "production"
    assert settings.jobs.database_url.startswith("postgresql://")
    assert settings.jobs.broker.quorum_group_size == len(RABBIT_NODES)


def test_only_the_load_balancer_web_ports_listen_on_every_interface(
    rendered: dict[str, Any],
) -> None:
    published = {
        (name, int(port["target"])): port.get("host_ip", "0.0.0.0")
        for name, service in rendered["services"].items()
        for port in service.get("ports") or []
    }

    public = {key for key, host in published.items() if host not in ("127.0.0.1", "::1")}
    assert public == PUBLIC_PORTS, published
    web_services = [n for n in BEATKEEPER_SERVICES if rendered["services"][n].get("ports")]
    assert not web_services, f"published past the load balancer: {web_services}"


def test_no_service_uses_or_creates_the_guest_account(rendered: dict[str, Any]) -> None:
    for name, service in rendered["services"].items():
        for key, value in environment(service).items():
            assert "guest" not in value.lower(), f"{name}: {key}={value}"
    for node in RABBIT_NODES:
        env = environment(rendered["services"][node])
        assert env["RABBITMQ_DEFAULT_USER"], f"{node} would create guest"
    init = (ROOT / "deploy" / "rabbitmq" / "init.sh").read_text()
    assert "delete_user guest" in init


def test_beatkeeper_user_is_limited_to_its_own_vhost(rendered: dict[str, Any]) -> None:
    init = (ROOT / "deploy" / "rabbitmq" / "init.sh").read_text()
    env = environment(rendered["services"]["rabbitmq-init"])

    assert 'set_permissions -p "$RABBITMQ_VHOST" "$RABBITMQ_USER"' in init
    assert 'set_user_tags "$RABBITMQ_USER" management' in init
    assert (
        env["RABBITMQ_USER"]
        != environment(rendered["services"]["rabbit1"])["RABBITMQ_DEFAULT_USER"]
    ), "Beatkeeper must not run as the administrator"
    broker_url = environment(rendered["services"]["worker"])["BEATKEEPER_BROKER_URL"]
    assert broker_url.startswith(f"amqp://{env['RABBITMQ_USER']}:")
    assert broker_url.endswith(f"/{env['RABBITMQ_VHOST']}")


def test_the_three_rabbitmq_nodes_form_one_cluster_behind_the_load_balancer(
    rendered: dict[str, Any],
) -> None:
    conf = (ROOT / "deploy" / "rabbitmq" / "cluster.conf").read_text()
    haproxy = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    services = rendered["services"]

    listed = re.findall(r"classic_config\.nodes\.\d+ = rabbit@(\S+)", conf)
    assert sorted(listed) == [services[n]["hostname"] for n in RABBIT_NODES]
    cookies = {
        environment(services[n])["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] for n in RABBIT_NODES
    }
    assert len(cookies) == 1, "the nodes must share one Erlang cookie"
    for node in RABBIT_NODES:
        assert f"server {node} {node}:5672" in haproxy


def test_two_beats_run_by_default_so_one_stands_by(rendered: dict[str, Any]) -> None:
    assert rendered["services"]["beat"]["deploy"]["replicas"] == 2


def test_every_service_healthy_dependency_has_a_healthcheck(rendered: dict[str, Any]) -> None:
    assert not broken_healthy_dependencies(rendered["services"])
