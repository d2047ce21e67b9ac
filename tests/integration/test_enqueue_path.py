"""The enqueue path against the real broker: confirmed publishes, nothing half-way."""

from __future__ import annotations

import pytest
from kombu import Connection

from broker import declare
from broker.topology import describe
from jobs.enqueue import EnqueueError, Enqueuer
from jobs.factory import create_celery_app
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def queue_depth(url: str, name: str) -> int:
    with Connection(url) as conn, conn.channel() as channel:
        return int(channel.queue_declare(queue=name, passive=True).message_count)


def test_a_burst_of_enqueues_is_published_and_recorded_once_each(
    rabbitmq_url: str, free_sqlite_url: str, session_id: str
) -> None:
    settings = JobsSettings.from_env(settings_env(f"bk-burst-{session_id}", free_sqlite_url))
    app = create_celery_app(settings)
    topology = describe(settings.broker)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    enqueuer = Enqueuer(app)
    try:
        futures = [enqueuer.submit("runs_report", {"hours": 1}) for _ in range(300)]
        ids = {f.result(30).id for f in futures}
        assert len(ids) == 300
        assert len(app.store.list(limit=1000)) == 300
        # Quorum queue counters lag a few seconds; poll instead of asserting at once.
        wait_for(lambda: queue_depth(rabbitmq_url, topology.work_queues[0].name) == 300, 15)
    finally:
        enqueuer.stop()
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)


def test_an_unroutable_publish_is_refused_and_leaves_no_run_behind(
    rabbitmq_url: str, free_sqlite_url: str, session_id: str
) -> None:
    # The topology is deliberately not declared: the exchange is missing.
    settings = JobsSettings.from_env(settings_env(f"bk-missing-{session_id}", free_sqlite_url))
    app = create_celery_app(settings)
    enqueuer = Enqueuer(app)
    try:
        with pytest.raises(EnqueueError):
            enqueuer.enqueue("runs_report", {"hours": 1}, timeout=20)
        assert app.store.list() == []
    finally:
        enqueuer.stop()


def test_an_unreachable_broker_fails_the_enqueue_and_stores_nothing(
    free_sqlite_url: str, session_id: str
) -> None:
    env = settings_env(f"bk-down-{session_id}", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    app = create_celery_app(JobsSettings.from_env(env))
    enqueuer = Enqueuer(app)
    try:
        with pytest.raises(EnqueueError, match="unreachable"):
            enqueuer.enqueue("runs_report", {"hours": 1}, timeout=20)
        assert app.store.list() == []
    finally:
        enqueuer.stop()


def test_a_publisher_recovers_after_the_broker_refuses_a_missing_exchange(
    rabbitmq_url: str, session_id: str
) -> None:
    from broker.publisher import ConfirmingPublisher, OutgoingMessage, PublishError

    exchange = f"bk-pub-{session_id}"
    publisher = ConfirmingPublisher(rabbitmq_url)
    message = OutgoingMessage("m-1", exchange, "rk", b"{}")
    try:
        with pytest.raises(PublishError) as refused:
            publisher.publish([message])
        assert set(refused.value.failed) == {"m-1"}
        with Connection(rabbitmq_url) as conn, conn.channel() as channel:
            channel.exchange_declare(exchange, "fanout", durable=False, auto_delete=False)
            channel.queue_declare(exchange, durable=False, auto_delete=False)
            channel.queue_bind(exchange, exchange, "")
        publisher.publish([OutgoingMessage("m-2", exchange, "rk", b"{}")])  # confirmed
        wait_for(lambda: queue_depth(rabbitmq_url, exchange) == 1, 10)
    finally:
        publisher.close()
        with Connection(rabbitmq_url) as conn, conn.channel() as channel:
            channel.queue_delete(exchange)
            channel.exchange_delete(exchange)
