"""Two deployments with different queue prefixes on one vhost: neither sees the other's workers.

Each deployment's worker is a real ``celery -A jobs worker`` process started without ``-n``, so
its default node name, control exchange and event exchange all come from the prefix.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange

from broker import declare, names
from broker.topology import describe
from jobs.celery_app import BeatkeeperCelery
from jobs.factory import create_celery_app
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from tests.support.processes import running
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def _celery_exchanges(prefix: str) -> list[str]:
    control = names.control_namespace(prefix)
    return [f"{control}.pidbox", f"reply.{control}.pidbox", names.event_exchange_name(prefix)]


@contextmanager
def _deployment(prefix: str, tmp_path: Path, rabbitmq_url: str) -> Iterator[BeatkeeperCelery]:
    """Declare ``prefix``'s topology, run its worker, yield its app; clean up the broker after."""
    database_url = f"sqlite:///{tmp_path / f'{prefix}.db'}"
    upgrade(database_url)
    env = {**settings_env(prefix, database_url), "BEATKEEPER_BROKER_HEARTBEAT": "30"}
    settings = JobsSettings.from_env(env)
    topology = describe(settings.broker)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    try:
        argv = ["-m", "celery", "-A", "jobs", "worker", "-P", "solo", "-l", "INFO"]
        with running(f"worker-{prefix}", argv, env, tmp_path):
            yield create_celery_app(settings)
    finally:
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)
            channel = conn.default_channel
            for name in _celery_exchanges(prefix):
                Exchange(name, channel=channel).delete()


def _pinged(app: BeatkeeperCelery) -> set[str]:
    replies = app.control.ping(timeout=1.0) or []
    return {node for reply in replies for node in reply}


class _Events:
    """A thread capturing one app's events; ``hostnames`` lists each event's sender."""

    def __init__(self, app: BeatkeeperCelery) -> None:
        self.hostnames: list[str] = []
        self._conn = app.connection_for_read()
        self.receiver = app.events.Receiver(self._conn, handlers={"*": self._record})
        self._thread = threading.Thread(target=self.receiver.capture, daemon=True)

    def _record(self, event: dict[str, Any]) -> None:
        self.hostnames.append(event.get("hostname", ""))

    def __enter__(self) -> _Events:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.receiver.should_stop = True
        self._thread.join(10)
        self._conn.release()


def test_two_prefixes_on_one_vhost_neither_see_nor_control_each_others_workers(
    rabbitmq_url: str, session_id: str, tmp_path: Path
) -> None:
    prefix_a, prefix_b = f"bk-iso-a-{session_id}", f"bk-iso-b-{session_id}"
    node_a = names.worker_node_name(prefix_a, socket.gethostname())
    node_b = names.worker_node_name(prefix_b, socket.gethostname())
    with ExitStack() as stack:
        app_a = stack.enter_context(_deployment(prefix_a, tmp_path, rabbitmq_url))
        app_b = stack.enter_context(_deployment(prefix_b, tmp_path, rabbitmq_url))
        # Both workers are up and answer their own deployment by their prefixed default names.
        wait_for(lambda: _pinged(app_a), timeout=60)
        wait_for(lambda: _pinged(app_b), timeout=60)

        assert _pinged(app_a) == {node_a}
        assert _pinged(app_b) == {node_b}
        assert set(app_a.control.inspect(timeout=1.0).active_queues() or {}) == {node_a}
        assert set(app_b.control.inspect(timeout=1.0).active_queues() or {}) == {node_b}

        with _Events(app_a) as events_a:
            wait_for(lambda: node_a in events_a.hostnames, timeout=30)
            # A is listening: every event B's worker sends from now on would reach A if the
            # event exchange were shared. Wait for B to send some, then for A to hear more.
            with _Events(app_b) as events_b:
                wait_for(lambda: events_b.hostnames.count(node_b) >= 2, timeout=30)
            heard = events_a.hostnames.count(node_a)
            wait_for(lambda: events_a.hostnames.count(node_a) > heard, timeout=30)
        assert set(events_a.hostnames) == {node_a}
        assert set(events_b.hostnames) == {node_b}
