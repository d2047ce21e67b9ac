"""Runs executed while PostgreSQL refuses connections are recorded once it is back.

The worker processes reach a real PostgreSQL through a TCP proxy the test cuts (connection
refused, open connections cut) and opens again; the jobs are accepted by the real enqueue
path, whose own insert fails too, so nothing but the workers' outboxes knows about them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_celery import CeleryTestSetup
from sqlalchemy.engine import make_url

from jobs.enqueue import Enqueuer
from tests.conftest import POSTGRES_URL
from tests.faults.test_worker_processes import finished
from tests.support.databases import usable_postgres_database
from tests.support.faultjobs import count
from tests.support.proxy import CuttableProxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def gate() -> Iterator[CuttableProxy]:
    target = make_url(POSTGRES_URL)
    gate = CuttableProxy(target.host or "127.0.0.1", target.port or 5432)
    yield gate
    gate.cut()


@pytest.fixture
def runs_database_url(gate: CuttableProxy) -> Iterator[str]:
    """A PostgreSQL database of this test's own, reached through the gate."""
    with usable_postgres_database() as url:
        yield make_url(url).set(port=gate.port).render_as_string(hide_password=False)


def test_runs_accepted_and_executed_while_the_store_refuses_connections_get_their_rows(
    celery_setup: CeleryTestSetup, gate: CuttableProxy, marks: str
) -> None:
    enqueuer = Enqueuer(celery_setup.app)
    try:
        gate.cut()
        runs = [
            enqueuer.enqueue("marked_sleep", {"marks": marks, "key": f"k{i}"}) for i in range(6)
        ]
        wait_for(lambda: all(count(marks, f"k{i}.done") == 1 for i in range(6)), 60, 0.2)
        back_at = datetime.now(UTC)
        gate.restore()

        records = [finished(celery_setup, run.id) for run in runs]
    finally:
        enqueuer.stop()

    assert {r.state for r in records} == {"SUCCESS"}
    assert [r.result for r in records] == [f"k{i}" for i in range(6)]
    for record in records:
        (attempt,) = record.history
        # Executed during the outage, written after it.
        assert attempt.started_at < back_at and attempt.outcome == "SUCCESS"
        assert attempt.worker == celery_setup.worker.hostname()
