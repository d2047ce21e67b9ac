"""Poison messages against a real ``celery -A jobs worker`` process (prefork pool): each is
dead-lettered at once with its reason, the process never exits, and work around them runs.
Celery 5.7 alone exits the whole worker on the first two kinds ("Unrecoverable error")."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_celery import CeleryTestSetup

from broker.names import ORIGIN_QUEUE_HEADER, REASON_HEADER
from tests.faults.test_worker_processes import finished
from tests.support.faultjobs import count
from tests.support.queues import dead_letters, publish_raw
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

TASK = "marked_sleep"
POISON = {
    "no id header": (b'[[], {"marks": "-", "key": "-"}, {}]', "application/json", {}),
    "a JSON object as body": (b'{"marks": "-"}', "application/json", {"id": "object"}),
    "malformed JSON": (b'[[], {"marks": "-"', "application/json", {"id": "bad-json"}),
    "pickle": (b"\x80\x04K\x01.", "application/x-python-serialize", {"id": "pickle"}),
}
REASONS = {
    "no id header": "no id header",
    "a JSON object as body": "body is not [args, kwargs, embed]",
    "malformed JSON": "body cannot be decoded",
    "pickle": "content type not accepted",
}


def test_poison_messages_are_dead_lettered_with_their_reason_and_the_worker_process_lives(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    app, worker = celery_setup.app, celery_setup.worker
    task = app.tasks[TASK]
    before = task.s(marks=marks, key="before").apply_async()
    for body, content_type, headers in POISON.values():
        publish_raw(app, body, content_type, {"task": TASK, **headers})
    after = task.s(marks=marks, key="after").apply_async()

    assert finished(celery_setup, before.id).state == "SUCCESS"
    assert finished(celery_setup, after.id).state == "SUCCESS"
    letters: list[Any] = []

    def all_dead_lettered() -> bool:
        letters.extend(dead_letters(app))
        return len(letters) >= len(POISON)

    wait_for(all_dead_lettered, 30, interval=0.2)

    assert worker.container.status == "running", "the worker process exited"
    assert "Unrecoverable error" not in worker.logs()
    reasons = [str(m.headers[REASON_HEADER]) for m in letters]
    for name, expected in REASONS.items():
        assert sum(expected in r for r in reasons) == 1, (name, reasons)
    assert {m.headers[ORIGIN_QUEUE_HEADER] for m in letters} == {
        app.topology.work_queue("default").name
    }
    assert count(marks, "before.done") == count(marks, "after.done") == 1
