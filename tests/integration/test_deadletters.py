"""Dead letters listed, inspected, re-driven and purged over AMQP, with a real worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import amqp
import pytest
from kombu import Connection

from broker.names import REASON_HEADER
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.services.deadletters import (
    ConfirmationRequired,
    DeadLetterService,
    UnknownDeadLetter,
    UnknownDeadLetterQueue,
)
from jobs.store.runs import RunRecord
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
def service(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> Iterator[DeadLetterService]:
    svc = DeadLetterService(celery_session_app)
    svc.purge("default", confirm=True)  # each test starts from an empty DLQ
    yield svc
    svc.purge("default", confirm=True)


def finished(app: BeatkeeperCelery, run_id: str, timeout: float = 20.0) -> RunRecord:
    def done() -> RunRecord | None:
        record = app.store.get(run_id)
        return record if record is not None and record.done else None

    result: RunRecord = wait_for(done, timeout)
    return result


def dead_lettered(service: DeadLetterService, enqueuer: Enqueuer, n: int) -> list[str]:
    """Enqueue ``n`` runs that fail at once and wait until all are in the default DLQ and
    their runs say so (the worker's outbox writes them in batches)."""
    keys = [uuid.uuid4().hex for _ in range(n)]
    ids = [enqueuer.enqueue("fails_until_released", {"key": k}).id for k in keys]
    wait_for(lambda: service.queue("default").count >= n)
    store = enqueuer.app.store
    wait_for(lambda: all(getattr(store.get(i), "dead_lettered", False) for i in ids))
    return ids


def test_a_rejected_message_is_listed_with_its_reason_its_run_and_stays_in_the_queue(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    first, second = dead_lettered(service, enqueuer, 2)

    listing = service.list("default")

    assert [letter.id for letter in listing.letters] == [first, second]
    letter = listing.letters[0]
    assert letter.reason == "rejected"
    assert letter.run_id == first and letter.job == "fails_until_released"
    assert letter.run is not None and letter.run.state == "FAILURE" and letter.run.dead_lettered
    assert letter.source_queue == celery_session_app.topology.work_queue("default").name
    # Listing gives every message back, in the same order.
    assert [x.id for x in service.list("default").letters] == [first, second]
    assert service.queue("default").count == 2


def test_one_message_is_shown_with_headers_body_x_death_and_the_runs_attempts(
    enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    (run_id,) = dead_lettered(service, enqueuer, 1)

    shown = service.show("default", run_id)

    assert shown.headers["task"] == "fails_until_released"
    assert shown.body[1]["key"]  # Celery's [args, kwargs, embed]
    assert shown.letter.deaths[0]["reason"] == "rejected"
    assert shown.run is not None
    assert [a.outcome for a in shown.run.history] == ["FAILURE"]
    with pytest.raises(UnknownDeadLetter):
        service.show("default", "no-such-message")
    with pytest.raises(UnknownDeadLetterQueue):
        service.show("nope", run_id)


def test_a_redriven_run_continues_under_its_id_with_a_new_attempt_on_a_real_worker(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    keep, fix = dead_lettered(service, enqueuer, 2)
    fixed = celery_session_app.store.get(fix)
    assert fixed is not None
    fix_key = fixed.kwargs["key"]
    testjobs.release(fix_key)

    result = service.redrive("default", [fix])

    assert result.ids == [fix]
    record = finished(celery_session_app, fix)
    assert record.state == "SUCCESS" and record.dead_lettered is False
    assert [a.outcome for a in record.history] == ["FAILURE", "SUCCESS"]
    assert record.attempts == 2
    # The other one stayed where it was.
    assert [x.id for x in service.list("default").letters] == [keep]


def test_a_selection_with_an_unknown_id_redrives_nothing(
    enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    first, second = dead_lettered(service, enqueuer, 2)

    with pytest.raises(UnknownDeadLetter) as refused:
        service.redrive("default", [first, "no-such-message"])

    assert refused.value.ids == ["no-such-message"]
    assert [x.id for x in service.list("default").letters] == [first, second]


def test_redriving_all_moves_every_message_and_a_failing_run_comes_back_with_a_new_attempt(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    ids = dead_lettered(service, enqueuer, 3)

    result = service.redrive("default", None)

    assert sorted(result.ids) == sorted(ids)
    # Not released: each runs once more, fails and is dead-lettered again, counted twice.
    wait_for(
        lambda: all(
            (r := celery_session_app.store.get(i)) is not None and r.attempts == 2 and r.done
            for i in ids
        )
    )
    wait_for(lambda: service.queue("default").count == 3)
    listing = service.list("default")
    assert sorted(x.id for x in listing.letters) == sorted(ids)
    assert all(x.death_count == 2 for x in listing.letters)


def test_purging_needs_a_confirmation_and_then_empties_the_queue(
    enqueuer: Enqueuer, service: DeadLetterService
) -> None:
    dead_lettered(service, enqueuer, 2)

    with pytest.raises(ConfirmationRequired):
        service.purge("default", confirm=False)
    assert service.queue("default").count == 2

    assert service.purge("default", confirm=True) == 2
    assert service.queue("default").count == 0


def test_a_message_the_worker_refuses_is_listed_with_the_reason_from_its_header(
    celery_session_app: BeatkeeperCelery, service: DeadLetterService
) -> None:
    spec = celery_session_app.topology.work_queue("default")
    with Connection(celery_session_app.conf.broker_url) as conn, conn.channel() as channel:
        # A message no worker can run, as a buggy producer would send it.
        channel.basic_publish(
            amqp.Message(
                b"[[], {}, {}]",
                message_id="poison-1",
                content_type="application/json",
                content_encoding="utf-8",
                application_headers={"id": "poison-1", "task": "no.such.job"},
            ),
            exchange=spec.exchange,
            routing_key=spec.routing_key,
        )
    wait_for(lambda: service.queue("default").count == 1)

    (letter,) = service.list("default").letters

    assert (letter.id, letter.run) == ("poison-1", None)
    assert "unknown task 'no.such.job'" in letter.reason
    assert letter.letter.headers[REASON_HEADER] == letter.reason
    assert letter.source_queue == spec.name
    assert letter.body == [[], {}, {}]
