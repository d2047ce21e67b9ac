"""RabbitMQ's own deaths, for real: a message whose per-message TTL runs out in its work queue
(``expired``) and one returned more often than the quorum queue's ``x-delivery-limit``
(``delivery_limit``) reach the DLQ through the queue's dead-letter exchange. The API, the
pages and the CLI list each with RabbitMQ's reason from x-death and its run, and a re-drive
runs it under the same id. A namespace of its own on the shared broker; no worker consumes
until the re-drive, so the deaths are RabbitMQ's alone."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from click.testing import CliRunner
from fastapi.testclient import TestClient
from kombu import Connection

from broker import declare
from broker.publisher import ConfirmingPublisher
from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.factory import create_celery_app, load_registry
from jobs.messages import task_message
from jobs.services.deadletters import DeadLetterService
from jobs.settings import JobsSettings
from jobs.store.attempts import NewRun
from jobs.store.migrate import upgrade
from jobs.store.runs import RunRecord, utcnow
from tests.conftest import settings_env
from tests.support import testjobs
from tests.support.celery_local.fixtures import close_app
from tests.support.waiting import wait_for
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings

pytestmark = pytest.mark.integration

DELIVERY_LIMIT = 2


@pytest.fixture(scope="module")
def env(rabbitmq_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('deaths') / 'runs.db'}"
    upgrade(database_url)
    env = settings_env(f"bk-deaths-{uuid.uuid4().hex[:8]}", database_url, rabbitmq_url)
    env["BEATKEEPER_DELIVERY_LIMIT"] = str(DELIVERY_LIMIT)
    return env


@pytest.fixture(scope="module")
def app(env: dict[str, str]) -> Iterator[BeatkeeperCelery]:
    registry = load_registry("jobs.examples").merge(testjobs.registry)
    app = create_celery_app(JobsSettings.from_env(env), registry, main="bk-deaths")
    with Connection(app.conf.broker_url) as conn:
        declare.declare(conn, app.topology)
    yield app
    with Connection(app.conf.broker_url) as conn:
        declare.delete(conn, app.topology)
    close_app(app)
    app.store.engine.dispose()


@pytest.fixture
def service(app: BeatkeeperCelery) -> Iterator[DeadLetterService]:
    svc = DeadLetterService(app)
    svc.purge("default", confirm=True)
    yield svc
    svc.purge("default", confirm=True)


def expired_in_its_work_queue(app: BeatkeeperCelery) -> str:
    """A run accepted as the enqueue path does, its message with a 50 ms TTL (as a client
    passing ``expiration`` sets it): nobody consumes, so RabbitMQ expires it."""
    spec = app.topology.work_queue("default")
    run = NewRun(id=str(uuid.uuid4()), job="add", queue=spec.name, kwargs={"x": 2, "y": 3})
    message = task_message(app, task_id=run.id, name=run.job, kwargs=run.kwargs, queue=spec)
    message = dataclasses.replace(message, properties={**message.properties, "expiration": "50"})
    publisher = ConfirmingPublisher(app.settings.broker.url)
    try:
        publisher.publish([message])
    finally:
        publisher.close()
    with app.store.engine.begin() as conn:
        app.store.insert_pending(conn, [run], utcnow())
    return run.id


def returned_past_the_delivery_limit(app: BeatkeeperCelery) -> str:
    """A run from the real enqueue path, whose message a consumer keeps handing back (as a
    consumer crashing before it acks does) until RabbitMQ dead-letters it."""
    enqueuer = Enqueuer(app)
    try:
        run_id = enqueuer.enqueue("add", {"x": 2, "y": 3}).id
    finally:
        enqueuer.stop()
    queue = app.topology.work_queue("default").name
    with Connection(app.settings.broker.url) as conn, conn.channel() as channel:
        returned = 0
        deadline = time.monotonic() + 20
        while returned <= DELIVERY_LIMIT and time.monotonic() < deadline:
            message = channel.basic_get(queue)
            if message is None:  # a returned message is back a moment later
                time.sleep(0.02)
                continue
            channel.basic_reject(message.delivery_tag, requeue=True)
            returned += 1
    return run_id


DEATHS: dict[str, Callable[[BeatkeeperCelery], str]] = {
    "expired": expired_in_its_work_queue,
    "delivery_limit": returned_past_the_delivery_limit,
}


def finished(app: BeatkeeperCelery, run_id: str) -> RunRecord:
    def done() -> RunRecord | None:
        record = app.store.get(run_id)
        return record if record is not None and record.done else None

    record: RunRecord = wait_for(done, 20)
    return record


@pytest.mark.parametrize("reason", sorted(DEATHS))
def test_a_real_death_is_listed_with_rabbitmqs_reason_and_its_run_and_a_redrive_runs_it(
    app: BeatkeeperCelery, env: dict[str, str], service: DeadLetterService, reason: str
) -> None:
    run_id = DEATHS[reason](app)
    wait_for(lambda: service.queue("default").count == 1, 20)
    work_queue = app.topology.work_queue("default").name

    with TestClient(create_app(WebSettings(jobs=app.settings), app)) as client:
        (listed,) = client.get("/api/deadletters/default").json()["messages"]
        assert (listed["id"], listed["run_id"], listed["reason"]) == (run_id, run_id, reason)
        assert listed["source_queue"] == work_queue and listed["job"] == "add"
        assert listed["run_state"] == "FAILURE", "the run says it is dead, not still waiting"
        shown = client.get(f"/api/deadletters/default/messages/{run_id}").json()
        assert (shown["x_death"][0]["reason"], shown["x_death"][0]["queue"]) == (
            reason,
            work_queue,
        )
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["dead_lettered"] is True and reason in run["error"]

        page = client.get("/deadletters/default").text
        assert reason in page and f'href="/runs/{run_id}"' in page
        assert (
            f'href="/deadletters/default/messages/{run_id}"' in client.get(f"/runs/{run_id}").text
        )

        cli = CliRunner(env=env).invoke(main, ["dlq", "list", "default"])
        (line,) = cli.stdout.splitlines()
        assert line.split()[:2] == [run_id, reason] and "FAILURE" in line

        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            redriven = client.post(f"/api/deadletters/default/messages/{run_id}/redrive")
            assert redriven.status_code == 200 and redriven.json()["redriven"] == [run_id]
            record = finished(app, run_id)

    assert (record.state, record.result, record.dead_lettered) == ("SUCCESS", 5, False)
    assert [a.outcome for a in record.history] == ["SUCCESS"]
    assert service.queue("default").count == 0
