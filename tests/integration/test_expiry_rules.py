"""Expiry bounds when a fire's first attempt may start: never its retries, and not a fire the
broker released late (real RabbitMQ, a real embedded worker, held fires built as the beat does)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.names import HOLD_SHARD_HEADER
from broker.publisher import ConfirmingPublisher
from jobs.celery_app import BeatkeeperCelery
from jobs.messages import DUE_AT_HEADER, EXPIRY_HEADER, task_message
from jobs.store.runs import RunRecord
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def finished(app: BeatkeeperCelery, run_id: str, timeout: float = 30.0) -> RunRecord:
    def done() -> RunRecord | None:
        record = app.store.get(run_id)
        return record if record is not None and record.done else None

    record: RunRecord = wait_for(done, timeout)
    return record


def test_a_failing_job_runs_all_its_retries_past_its_expiry_and_ends_dead_lettered(
    celery_session_app: BeatkeeperCelery, celery_session_worker: Any
) -> None:
    app = celery_session_app
    # always_fails retries twice, 1 s apart: the last attempt starts after the expiry.
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    sent = app.tasks["always_fails"].apply_async(kwargs={"key": uuid.uuid4().hex}, expires=expires)

    record = finished(app, sent.id)

    assert (record.state, record.dead_lettered, record.attempts) == ("FAILURE", True, 3)
    assert record.history[-1].started_at > expires
    assert [a.outcome for a in record.history] == ["RETRY", "RETRY", "FAILURE"]


def publish_held_fire(app: BeatkeeperCelery, *, late_by: float, expiry: str) -> str:
    """A fire due ``late_by`` seconds ago, released only now (as after a broker outage)."""
    run_id = str(uuid.uuid4())
    due = datetime.now(UTC) - timedelta(seconds=late_by)
    message = task_message(
        app,
        task_id=run_id,
        name="add",
        kwargs={"x": 1, "y": 1},
        queue=app.topology.work_queue("default"),
        expires=due + timedelta(seconds=60),  # one period of an every-minute schedule
    )
    message = replace(
        message,
        exchange=app.topology.hold_exchange.name,
        headers={
            **message.headers,
            HOLD_SHARD_HEADER: 0,
            DUE_AT_HEADER: due.isoformat(),
            EXPIRY_HEADER: expiry,
        },
        deliver_at=datetime.now(UTC).timestamp(),
    )
    publisher = ConfirmingPublisher(app.settings.broker.url)
    try:
        publisher.publish([message])
    finally:
        publisher.close()
    return run_id


def test_a_held_fire_released_late_by_the_broker_runs_instead_of_expiring(
    celery_session_app: BeatkeeperCelery, celery_session_worker: Any
) -> None:
    run_id = publish_held_fire(celery_session_app, late_by=120, expiry="period")

    record = finished(celery_session_app, run_id)

    assert (record.state, record.result) == ("SUCCESS", 2)


def test_a_held_fire_released_late_past_the_schedules_own_expiry_expires(
    celery_session_app: BeatkeeperCelery, celery_session_worker: Any
) -> None:
    run_id = publish_held_fire(celery_session_app, late_by=120, expiry="schedule")

    record = finished(celery_session_app, run_id)

    assert record.state == "EXPIRED"
