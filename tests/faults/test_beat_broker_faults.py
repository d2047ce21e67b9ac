"""A real ``celery -A jobs beat`` whose private RabbitMQ node is killed with SIGKILL and
started again: the beat backs off without spinning, logs the outage once each way, and fires
again when the broker is back, following the schedule's catch-up policy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kombu import Connection
from pytest_celery import RabbitMQContainer

from broker import declare
from broker.topology import describe
from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import CatchUp, TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store.lease import LeaseStore
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from tests.e2e.test_beat_processes import BEAT, renewed_since
from tests.support.processes import running
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.slow]


def test_the_beat_rides_out_a_broker_kill_and_fires_again_when_it_is_back(
    private_rabbitmq_broker: RabbitMQContainer, tmp_path: Path
) -> None:
    broker = private_rabbitmq_broker
    database_url = f"sqlite:///{tmp_path / 'beat.db'}"
    env = settings_env("bk-beat-fault", database_url, broker.url)
    env["BEATKEEPER_JOB_MODULES"] = "jobs.examples,tests.support.testjobs"
    upgrade(database_url)
    settings = JobsSettings.from_env(env)
    with Connection(broker.url) as conn:
        declare.declare(conn, describe(settings.broker))
    app = create_celery_app(settings, load_registry(env["BEATKEEPER_JOB_MODULES"]))
    manager = ScheduleManager(app)
    manager.create(
        ScheduleDefinition(
            name="tick",
            job="add",
            trigger=TriggerKind.INTERVAL,
            interval_seconds=1,
            kwargs={"x": 1},
            catch_up=CatchUp.LATEST,
        ),
        by="test",
    )

    def fires() -> list[datetime]:
        runs = app.store.list(schedule="tick", limit=10_000)
        return sorted(r.scheduled_for for r in runs if r.scheduled_for is not None)

    try:
        with running("beat", BEAT, env, tmp_path) as beat:
            log = tmp_path / "beat.log"
            wait_for(lambda: len(fires()) >= 2, 30)
            broker.kill()  # SIGKILL: the node's connections vanish without a close
            killed_at = datetime.now(UTC)
            wait_for(lambda: "broker lost" in log.read_text(), 30)
            # How little CPU it uses meanwhile is measured by benchmarks.beat_faults.
            renewed_since(LeaseStore(app.store.engine), datetime.now(UTC))
            assert beat.poll() is None, "the beat exited"

            broker.restart()
            wait_for(lambda: "broker back" in log.read_text(), 60)
            back_at = datetime.now(UTC)
            wait_for(lambda: sum(t > back_at + timedelta(seconds=1) for t in fires()) >= 2, 30)
    finally:
        app.store.engine.dispose()
    text = log.read_text()
    assert text.count("broker lost") == text.count("broker back") >= 1
    assert "Traceback" not in text
    sent = fires()
    assert len(sent) == len(set(sent))
    # catch_up=latest: at most one fire for the seconds the broker was away.
    outage = [
        t for t in sent if killed_at + timedelta(seconds=1) < t < back_at - timedelta(seconds=1)
    ]
    assert len(outage) <= 1
    assert all(
        b - a == timedelta(seconds=1) for a, b in itertools.pairwise(s for s in sent if s > back_at)
    )
