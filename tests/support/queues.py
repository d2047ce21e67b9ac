"""Raw AMQP for tests: drain a work queue's dead-letter queue, publish a message as-is."""

from __future__ import annotations

import uuid
from typing import Any

from kombu import Connection, Producer

from jobs.celery_app import BeatkeeperCelery


def dead_letters(app: BeatkeeperCelery, queue: str = "default") -> list[Any]:
    """Drain ``app``'s dead-letter queue for ``queue`` and return its messages (so that later
    tests find it empty)."""
    dlq = app.topology.work_queue(queue).dead_letter_queue
    out = []
    with Connection(app.conf.broker_url) as conn, conn.channel() as channel:
        while (message := channel.basic_get(dlq, no_ack=True)) is not None:
            out.append(message)
    return out


def publish_raw(
    app: BeatkeeperCelery, body: bytes, content_type: str, headers: dict[str, Any]
) -> None:
    """Publish ``body`` to the default work queue exactly as given: no Celery encoding."""
    queue = app.topology.work_queue("default")
    with Connection(app.conf.broker_url) as conn:
        Producer(conn.default_channel).publish(
            body,
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            headers=headers,
            content_type=content_type,
            content_encoding="utf-8",
            message_id=headers.get("id") or uuid.uuid4().hex,
        )
