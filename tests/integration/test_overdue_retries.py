"""A retry message stranded in the broker's delayed-delivery queues: the reaper re-sends the
run once overdue (real RabbitMQ, a real worker). The fault is injected by intercepting the
retry's publish, as if the broker had lost the message in its delayed queues."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from broker.names import REASON_HEADER
from broker.publisher import ConfirmingPublisher, OutgoingMessage
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.store.reaping import RESENT_REASON, vanished_reason
from jobs.store.runs import NewRun, RunRecord, utcnow
from jobs.worker.reaper import resend_overdue
from tests.support import testjobs
from tests.support.queues import dead_letters
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enqueuer(celery_session_app: BeatkeeperCelery, celery_session_worker: Any) -> Any:
    enq = Enqueuer(celery_session_app)
    yield enq
    enq.stop()


@pytest.fixture
def publisher(celery_session_app: BeatkeeperCelery) -> Iterator[ConfirmingPublisher]:
    pub = ConfirmingPublisher(celery_session_app.settings.broker.url)
    yield pub
    pub.close()


@pytest.fixture
def lost_retries(
    celery_session_app: BeatkeeperCelery, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Any, Any]]:
    """Every retry ``flaky`` and ``always_fails`` send is kept here, not sent to the broker."""
    kept: list[tuple[Any, Any]] = []
    for job in ("flaky", "always_fails"):
        task = celery_session_app.tasks[job]
        monkeypatch.setattr(task, "apply_async", lambda *a, **kw: kept.append((a, kw)))
    return kept


def arrives_late(app: BeatkeeperCelery, enqueuer: Enqueuer, job: str, kept: Any) -> None:
    """The stranded original turns up after all (at once rather than after its countdown);
    returns once the worker has handled it (it takes messages in order)."""
    args, options = kept
    options = {k: v for k, v in options.items() if k not in ("countdown", "eta")}
    app.tasks[job].apply_async(*args, **options)
    marker = enqueuer.enqueue("add", {"x": 1, "y": 1})
    assert finished(app, marker.id).state == "SUCCESS"


def in_retry(app: BeatkeeperCelery, run_id: str) -> RunRecord:
    record: RunRecord = wait_for(
        lambda: (r := app.store.get(run_id)) is not None and r.state == "RETRY" and r
    )
    return record


def finished(app: BeatkeeperCelery, run_id: str) -> RunRecord:
    record: RunRecord = wait_for(lambda: (r := app.store.get(run_id)) is not None and r.done and r)
    return record


def overdue_at(app: BeatkeeperCelery, record: RunRecord, by: float) -> Any:
    """A clock reading ``by`` seconds past the retry's due time plus the grace."""
    assert record.next_retry_at is not None
    grace = app.settings.worker.retry_overdue
    return record.next_retry_at + timedelta(seconds=grace + by)


def test_a_retry_run_whose_retry_message_vanished_is_re_sent_once_overdue_and_succeeds(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    publisher: ConfirmingPublisher,
    lost_retries: list[Any],
) -> None:
    app = celery_session_app
    key = uuid.uuid4().hex
    run = enqueuer.enqueue("flaky", {"key": key, "fail_times": 1})
    waiting = in_retry(app, run.id)
    assert len(lost_retries) == 1  # the retry never reached the broker

    at = overdue_at(app, waiting, 1)
    outgoing: list[OutgoingMessage] = []
    assert run.id in resend_overdue(app, outgoing.extend, at=at)

    # Recorded on the run before the message leaves: why, and what sent it.
    claimed = app.store.get(run.id)
    assert claimed is not None and claimed.state == "RETRY"
    assert claimed.reason == RESENT_REASON and claimed.origin == "reaper"
    assert claimed.next_retry_at == at  # due again: another pass waits a grace
    (message,) = [m for m in outgoing if m.message_id == run.id]
    assert message.headers["task"] == "flaky" and message.headers["retries"] == 2
    assert message.routing_key == app.topology.work_queue("default").routing_key
    publisher.publish(outgoing)

    record = finished(app, run.id)
    assert record.state == "SUCCESS" and record.result == {"attempts": 2}
    assert [(a.number, a.outcome) for a in record.history] == [(1, "RETRY"), (2, "SUCCESS")]
    assert record.attempts == 2 and testjobs.calls(key) == 2
    assert record.origin == "reaper" and record.resends == 0  # it arrived: the count restarts
    # Finished: a later pass leaves it alone.
    assert run.id not in resend_overdue(app, publisher.publish, at=overdue_at(app, waiting, 60))


def test_an_original_retry_message_arriving_after_the_re_send_does_not_run_again(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    publisher: ConfirmingPublisher,
    lost_retries: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = celery_session_app
    key = uuid.uuid4().hex
    run = enqueuer.enqueue("flaky", {"key": key, "fail_times": 1})
    waiting = in_retry(app, run.id)
    assert run.id in resend_overdue(app, publisher.publish, at=overdue_at(app, waiting, 1))
    assert finished(app, run.id).state == "SUCCESS"

    monkeypatch.undo()
    arrives_late(app, enqueuer, "flaky", lost_retries[0])

    record = finished(app, run.id)
    assert testjobs.calls(key) == 2
    assert [a.outcome for a in record.history] == ["RETRY", "SUCCESS"]
    assert record.state == "SUCCESS" and record.attempts == 2


def test_an_original_retry_arriving_after_the_re_sent_attempt_failed_for_good_is_not_run(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    publisher: ConfirmingPublisher,
    lost_retries: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A FAILURE is runnable (a re-drive runs it again): only the newer attempt number of the
    # re-send tells the late original apart from a legitimate delivery.
    app = celery_session_app
    run = enqueuer.enqueue("always_fails", {"key": uuid.uuid4().hex})
    waiting = in_retry(app, run.id)
    assert run.id in resend_overdue(app, publisher.publish, at=overdue_at(app, waiting, 1))
    failed = finished(app, run.id)
    assert failed.state == "FAILURE" and failed.attempts == 2  # the job's retries ran out

    monkeypatch.undo()
    arrives_late(app, enqueuer, "always_fails", lost_retries[0])

    record = finished(app, run.id)
    assert record.state == "FAILURE" and record.attempts == 2
    assert [a.outcome for a in record.history] == ["RETRY", "FAILURE"]
    dead_letters(app)


def test_a_run_whose_re_sent_retry_keeps_vanishing_is_dead_lettered_with_its_reason(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    publisher: ConfirmingPublisher,
    lost_retries: list[Any],
) -> None:
    app = celery_session_app
    dead_letters(app)
    run = enqueuer.enqueue("flaky", {"key": uuid.uuid4().hex, "fail_times": 1})
    waiting = in_retry(app, run.id)
    most = app.settings.worker.retry_resends_max
    grace = timedelta(seconds=app.settings.worker.retry_overdue + 1)
    at = overdue_at(app, waiting, 1)
    vanished: list[OutgoingMessage] = []  # each re-send is lost too: never published
    for _ in range(most):
        assert run.id in resend_overdue(app, vanished.extend, at=at)
        at += grace

    assert run.id not in resend_overdue(app, publisher.publish, at=at)

    record = app.store.get(run.id)
    assert record is not None and record.state == "FAILURE" and record.dead_lettered
    assert record.reason == vanished_reason(most) and record.origin == "reaper"
    assert record.next_retry_at is None, "a dead-lettered run has no retry due"
    (letter,) = [m for m in dead_letters(app) if m.properties.get("message_id") == run.id]
    headers = letter.properties["application_headers"]
    assert headers[REASON_HEADER] == vanished_reason(most) and headers["task"] == "flaky"
    # Out of the loop: a later pass sends nothing.
    sent: list[OutgoingMessage] = []
    assert run.id not in resend_overdue(app, sent.extend, at=at + grace)
    assert sent == []


def test_a_retry_not_yet_overdue_is_left_alone(
    celery_session_app: BeatkeeperCelery,
    enqueuer: Enqueuer,
    publisher: ConfirmingPublisher,
    lost_retries: list[Any],
) -> None:
    app = celery_session_app
    key = uuid.uuid4().hex
    run = enqueuer.enqueue("flaky", {"key": key, "fail_times": 1})
    waiting = in_retry(app, run.id)

    assert run.id not in resend_overdue(app, publisher.publish, at=overdue_at(app, waiting, -1))

    record = app.store.get(run.id)
    assert record is not None and record.state == "RETRY" and record.reason is None
    assert record.next_retry_at == waiting.next_retry_at and testjobs.calls(key)
    # Once overdue it is re-sent (and so finishes, leaving nothing behind for other tests).
    assert run.id in resend_overdue(app, publisher.publish, at=overdue_at(app, waiting, 1))
    assert finished(app, run.id).state == "SUCCESS"


def test_a_held_fire_never_released_is_re_sent_once_overdue_and_runs(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, publisher: ConfirmingPublisher
) -> None:
    # As the beat records a fire it hands to the broker ahead of its time; its message is
    # lost in the hold queue (never published here).
    app = celery_session_app
    queue = app.topology.work_queue("default").name
    due = utcnow()
    fire = NewRun(uuid.uuid4().hex, "add", queue, {"x": 4, "y": 5}, schedule="s", scheduled_for=due)
    with app.store.engine.begin() as conn:
        app.store.insert_pending(conn, [fire], due, held=True)
    grace = app.settings.worker.retry_overdue

    early = resend_overdue(app, publisher.publish, at=due + timedelta(seconds=grace - 1))
    assert fire.id not in early
    assert fire.id in resend_overdue(app, publisher.publish, at=due + timedelta(seconds=grace + 1))

    record = finished(app, fire.id)
    assert record.state == "SUCCESS" and record.result == 9 and record.attempts == 1
    assert record.origin == "reaper" and record.schedule == "s"
