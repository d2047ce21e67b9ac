"""The local twin of the many-host profile starts, runs a job on a 3-node RabbitMQ cluster with
queues replicated on every node, and stops without leaving a node, process or database.

A lean cluster (1 worker, 1 beat, 1 web process; the full 2/2/2 runs in the throughput
benchmark). It still takes about 70 s on 2 cores (three Erlang VMs booting and joining, each
rabbitmqctl call a VM of its own), too long for the suite's budget: it runs only with
BEATKEEPER_TEST_LOCAL_CLUSTER=1, and ``python -m benchmarks.throughput --cluster`` and
``deploy/local-cluster.sh --check`` exercise the same start and stop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from benchmarks.local_cluster import POSTGRES, LocalCluster, check
from tests.conftest import unavailable
from tests.support.celery_local.rabbitmq_node import installed

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("BEATKEEPER_TEST_LOCAL_CLUSTER") != "1",
        reason="about 70 s: set BEATKEEPER_TEST_LOCAL_CLUSTER=1 to start the local cluster",
    ),
]


def _database_exists(name: str) -> bool:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    if not installed():
        unavailable("rabbitmq-server is not installed: no local RabbitMQ cluster")
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL not reachable at {POSTGRES}: {exc}")
    local = LocalCluster(tmp_path, workers=1, beats=1, web_processes=1)
    with local:
        yield local


def test_the_local_cluster_runs_a_job_and_stops_without_leftovers(cluster: LocalCluster) -> None:
    assert cluster.running() == {"rabbitmq nodes": 3, "processes": 3}

    check(cluster)  # raises unless the run succeeded and every queue has 3 replicas

    node_pids = [pid for node in cluster.nodes if (pid := node.pid()) is not None]
    process_pids = [p.pid for p in [*cluster.workers, *cluster.beats, cluster.web] if p]
    cluster.stop()
    assert len(node_pids) == 3
    assert not [pid for pid in [*node_pids, *process_pids] if _pid_alive(pid)]
    assert not _database_exists(cluster.database)
