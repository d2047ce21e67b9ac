"""The broker's share of a burst: fires already in the hold queue, released by RabbitMQ.

No beat runs: ``count`` messages exactly like the beat's hold fires (``task_message`` with
the same headers, the hold exchange, ``deliver_at``) are published ahead of ``due``, so
what the consumer then sees is how fast RabbitMQ dead-letters them to the work queue and
delivers them. That is the lowest burst lateness any beat using this hold queue can get.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from benchmarks.beat_data import JOB, KWARGS
from broker.names import HOLD_SHARD_HEADER
from broker.publisher import ConfirmingPublisher, OutgoingMessage
from jobs.celery_app import BeatkeeperCelery
from jobs.messages import task_message

FLOOR_PREFIX = "floor-"
BATCH = 1000


def hold_messages(app: BeatkeeperCelery, count: int, due: float) -> list[OutgoingMessage]:
    topology = app.topology
    queue = topology.work_queue(app.settings.default_queue)
    nominal = datetime.fromtimestamp(due, UTC).isoformat()
    messages = []
    for index in range(count):
        message = task_message(
            app,
            task_id=str(uuid.uuid4()),
            name=JOB,
            kwargs=dict(KWARGS),
            queue=queue,
            headers={
                "beatkeeper_schedule": f"{FLOOR_PREFIX}{index:06d}",
                "beatkeeper_scheduled_for": nominal,
                # spread over the hold shards round-robin, as the beat does
                HOLD_SHARD_HEADER: index % len(topology.hold_queues),
            },
        )
        messages.append(replace(message, exchange=topology.hold_exchange.name, deliver_at=due))
    return messages


def publish_held(broker_url: str, messages: list[OutgoingMessage]) -> None:
    publisher = ConfirmingPublisher(broker_url)
    try:
        for start in range(0, len(messages), BATCH):
            publisher.publish(messages[start : start + BATCH])
    finally:
        publisher.close()
