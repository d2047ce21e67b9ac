"""pytest-celery on local processes: the leaf fixtures that would build Docker containers.

Import these into a ``conftest.py`` (``from tests.support.celery_local.fixtures import *``).
Everything above them is pytest-celery's own and unchanged: ``celery_setup``,
``CeleryTestSetup``, ``celery_worker`` / ``CeleryTestWorker`` (``kill()``, ``restart()``),
``celery_rabbitmq_broker`` / ``RabbitMQTestBroker`` (``kill()``, ``restart()``) and custom
clusters. With Docker, delete these overrides (or the import) and pytest-celery's containers
come back.

- ``default_worker_container``: a ``celery ... worker`` process (``local_worker_container()``
  makes more of them for custom clusters, as pytest_docker_tools' ``container()`` does).
- ``default_rabbitmq_broker``: a vhost of its own on the shared broker; a module that kills
  or restarts the broker overrides it to return ``private_rabbitmq_broker``.
- ``rabbitmq_node``: the session's private RabbitMQ node on ports of its own.
- ``celery_broker_cluster`` is pinned to RabbitMQ (pytest-celery would add Redis when the
  redis package is installed); ``celery_backend_cluster`` is None: no result backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery import Celery
from pytest_celery import (
    CeleryBrokerCluster,
    CeleryWorkerContainer,
    RabbitMQContainer,
    RabbitMQTestBroker,
)

from tests.support.celery_local.rabbitmq import PrivateRabbitMQ, SharedRabbitMQVhost
from tests.support.celery_local.rabbitmq_node import RabbitMQNode, installed
from tests.support.celery_local.worker import local_worker

SHARED_BROKER_URL = os.environ.get(
    "BEATKEEPER_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
SHARED_MANAGEMENT_URL = os.environ.get(
    "BEATKEEPER_TEST_MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"
)


def _unavailable(reason: str) -> None:
    """Skip on a laptop without RabbitMQ; in CI a missing service is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: fault tests must run)")
    pytest.skip(reason)


def close_app(app: Celery) -> None:
    """Close the sockets ``Celery.close()`` leaves open (celery 5.7: ResourceWarnings)."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.close()


def local_worker_container() -> Callable[..., Any]:
    """A fixture that starts one more worker process from the ``default_worker_*`` fixtures."""

    @pytest.fixture
    def worker_container(
        default_worker_container_cls: type[CeleryWorkerContainer],
        default_worker_command: list[str],
        default_worker_env: dict[str, str],
        default_worker_initial_content: dict[str, Any],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[CeleryWorkerContainer]:
        container = local_worker(
            default_worker_container_cls,
            tmp_path_factory.mktemp("worker"),
            default_worker_command,
            default_worker_env,
            default_worker_initial_content,
        )
        yield container
        container.teardown()

    return worker_container


default_worker_container = local_worker_container()


@pytest.fixture(scope="session")
def rabbitmq_node() -> Iterator[RabbitMQNode]:
    """This session's private RabbitMQ node; tests may stop, kill and restart it."""
    if not installed():
        _unavailable("rabbitmq-server is not installed: no private RabbitMQ node for fault tests")
    node = RabbitMQNode()
    try:
        node.start()
    except Exception as exc:  # noqa: BLE001 - any start failure means: no private node here
        node.destroy()
        _unavailable(f"the private RabbitMQ node did not start: {exc}")
    yield node
    node.destroy()


@pytest.fixture
def private_rabbitmq_broker(
    rabbitmq_node: RabbitMQNode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RabbitMQContainer]:
    """A vhost of this test's own on the private node."""
    broker = PrivateRabbitMQ(rabbitmq_node, tmp_path_factory.mktemp("rabbitmq"))
    yield broker
    broker.teardown()


@pytest.fixture
def shared_rabbitmq_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RabbitMQContainer]:
    """A vhost of this test's own on the shared broker (never killed, never restarted).

    Creating a vhost needs the shared broker's management API; without it (the Debian
    package does not enable the plugin) the vhost is made on the private node instead.
    """
    broker: RabbitMQContainer
    try:
        broker = SharedRabbitMQVhost(
            SHARED_BROKER_URL, SHARED_MANAGEMENT_URL, tmp_path_factory.mktemp("rabbitmq")
        )
    except Exception:  # noqa: BLE001 - unreachable, refused, no management plugin
        node: RabbitMQNode = request.getfixturevalue("rabbitmq_node")
        broker = PrivateRabbitMQ(node, tmp_path_factory.mktemp("rabbitmq"))
    yield broker
    broker.teardown()


@pytest.fixture
def default_rabbitmq_broker(shared_rabbitmq_broker: RabbitMQContainer) -> RabbitMQContainer:
    return shared_rabbitmq_broker


@pytest.fixture
def celery_broker_cluster(
    celery_rabbitmq_broker: RabbitMQTestBroker,
) -> Iterator[CeleryBrokerCluster]:
    cluster = CeleryBrokerCluster(celery_rabbitmq_broker)
    yield cluster
    cluster.teardown()


@pytest.fixture
def celery_backend_cluster() -> None:
    """No result backend: results and failures are kept in Beatkeeper's run store."""
    return None
