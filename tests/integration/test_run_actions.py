"""Bulk retry and cancel against the real RabbitMQ with a real worker, and what the worker's
events then tell Flower about a run it acknowledged without running."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from celery.events.state import State

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.services.deadletters import DeadLetterService
from jobs.services.run_actions import RunActions
from jobs.store.run_pages import RunFilter
from jobs.store.runs import RunRecord, utcnow
from tests.support import testjobs
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enqueuer(
    celery_session_app: BeatkeeperCelery, celery_session_worker: Any
) -> Iterator[Enqueuer]:
    enq = Enqueuer(celery_session_app)
    yield enq
    enq.stop()


@pytest.fixture
def actions(celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer) -> Iterator[RunActions]:
    deadletters = DeadLetterService(celery_session_app)
    deadletters.purge("default", confirm=True)
    yield RunActions(celery_session_app, enqueuer, deadletters)
    deadletters.purge("default", confirm=True)


def finished(app: BeatkeeperCelery, run_id: str) -> RunRecord:
    record: RunRecord = wait_for(lambda: (r := app.store.get(run_id)) is not None and r.done and r)
    return record


def succeeded(app: BeatkeeperCelery, run_id: str) -> RunRecord | None:
    record = app.store.get(run_id)
    return record if record is not None and record.state == "SUCCESS" else None


class Events:
    """Celery's event stream, read into the same State Flower keeps."""

    def __init__(self, app: BeatkeeperCelery) -> None:
        self.state = State()
        self.app = app
        self.ready = threading.Event()
        self.receiver: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.connection() as conn:
            self.receiver = self.app.events.Receiver(
                conn, handlers={"*": self.state.event}, app=self.app
            )
            self.ready.set()
            self.receiver.capture(limit=None, timeout=None, wakeup=False)

    def __enter__(self) -> Events:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.receiver.should_stop = True
        self.thread.join(10)

    def has_state(self, task_id: str, state: str) -> bool:
        task = self.state.tasks.get(task_id)
        return task is not None and task.state == state


def test_a_bulk_retry_reruns_a_failed_run_under_its_id_and_redrives_a_dead_letter(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, actions: RunActions
) -> None:
    since = utcnow()
    keys = [uuid.uuid4().hex, uuid.uuid4().hex]
    failed = enqueuer.enqueue("discarded_until_released", {"key": keys[0]}).id
    dead = enqueuer.enqueue("fails_until_released", {"key": keys[1]}).id
    assert finished(celery_session_app, failed).dead_lettered is False
    assert finished(celery_session_app, dead).dead_lettered is True
    wait_for(lambda: actions.deadletters.queue("default").count == 1)
    for key in keys:
        testjobs.release(key)

    result = actions.apply("retry", RunFilter(since=since, state="FAILURE"), confirm=True)

    assert {r.id: r.outcome for r in result.runs} == {failed: "retried", dead: "re-driven"}
    for run_id, origin in ((failed, "retry"), (dead, "redrive")):
        record = wait_for(partial(succeeded, celery_session_app, run_id))
        assert [a.outcome for a in record.history] == ["FAILURE", "SUCCESS"], "a new attempt"
        assert record.origin == origin and record.attempts == 2
    assert actions.deadletters.queue("default").count == 0


def test_a_bulk_cancel_makes_the_worker_skip_waiting_runs_and_tells_flower_they_are_revoked(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, actions: RunActions
) -> None:
    with Events(celery_session_app) as events:
        since = utcnow()
        # The solo worker is busy with this one while the others wait in the queue.
        busy = enqueuer.enqueue("sleep_for", {"seconds": 1.5}).id
        wait_for(lambda: (r := celery_session_app.store.get(busy)) and r.state == "STARTED")
        waiting = [enqueuer.enqueue("add", {"x": i}).id for i in range(3)]

        result = actions.apply("cancel", RunFilter(since=since, job="add"), confirm=True)

        assert sorted(r.id for r in result.runs if r.outcome == "cancelled") == sorted(waiting)
        probe = enqueuer.enqueue("add", {"x": 1, "y": 1}).id  # behind them in the queue
        assert finished(celery_session_app, probe).result == 2
        assert finished(celery_session_app, busy).state == "SUCCESS"
        for run_id in waiting:
            record = celery_session_app.store.get(run_id)
            assert record is not None
            assert (record.state, record.attempts, record.reason) == (
                "CANCELLED",
                0,
                "cancelled by a bulk action",
            )
            # The worker received it and acknowledged it without running it: a final state
            # in the event stream, not STARTED forever.
            wait_for(partial(events.has_state, run_id, "REVOKED"), 10)
        wait_for(partial(events.has_state, probe, "SUCCESS"), 10)
    assert utcnow() - since < timedelta(seconds=60)
