"""Messages the worker cannot run go to their DLQ at once, with the reason; the worker lives.

A real embedded worker (Beatkeeper's consumer) on the real RabbitMQ; the poison is
published raw, as a buggy or hostile producer would.
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.names import ORIGIN_QUEUE_HEADER, REASON_HEADER
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.worker.consumer import POISON
from tests.support.queues import dead_letters, publish_raw
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enqueuer(celery_session_app: BeatkeeperCelery, celery_session_worker: Any) -> Any:
    enq = Enqueuer(celery_session_app)
    yield enq
    enq.stop()


POISON_CASES = {
    "no id header": (b'[[], {"x": 1}, {}]', "application/json", {"task": "add"}, "no id header"),
    "a JSON object as body": (
        b'{"x": 1, "y": 2}',
        "application/json",
        {"task": "add", "id": "object-body"},
        "body is not [args, kwargs, embed]",
    ),
    "malformed JSON": (
        b'[[], {"x": 1',
        "application/json",
        {"task": "add", "id": "bad-json"},
        "body cannot be decoded",
    ),
    "a disallowed content type": (
        b"\x80\x04K\x01.",
        "application/x-python-serialize",
        {"task": "add", "id": "pickle"},
        "content type not accepted",
    ),
    "an unknown task": (
        b"[[], {}, {}]",
        "application/json",
        {"task": "no.such.job", "id": "unknown"},
        "unknown task 'no.such.job'",
    ),
}


def test_each_poison_message_is_dead_lettered_with_its_reason_and_innocent_work_still_runs(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    app = celery_session_app
    dead_letters(app)
    before = sum(POISON.values())
    for body, content_type, headers, _ in POISON_CASES.values():
        publish_raw(app, body, content_type, headers)
    innocent = enqueuer.enqueue("add", {"x": 20, "y": 22})

    record = wait_for(
        lambda: (r := app.store.get(innocent.id)) is not None and r.done and r, timeout=20
    )
    assert (record.state, record.result) == ("SUCCESS", 42)
    letters = wait_for(lambda: (got := dead_letters(app)) and got, timeout=15)
    while len(letters) < len(POISON_CASES):
        letters += wait_for(lambda: dead_letters(app), timeout=15)

    reasons = sorted(m.headers[REASON_HEADER] for m in letters)
    for name, (*_, expected) in POISON_CASES.items():
        assert any(expected in r for r in reasons), (name, reasons)
    assert len(letters) == len(POISON_CASES)
    assert {m.headers[ORIGIN_QUEUE_HEADER] for m in letters} == {
        app.topology.work_queue("default").name
    }
    # The body is kept as it was, for inspection and re-drive.
    bodies = {m.headers.get("id"): m.body for m in letters}
    assert bodies["bad-json"] in (b'[[], {"x": 1', '[[], {"x": 1')  # py-amqp may decode utf-8
    assert sum(POISON.values()) - before == len(POISON_CASES)
