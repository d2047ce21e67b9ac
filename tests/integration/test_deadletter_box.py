"""The AMQP mechanics under the dead-letter service, at a size where RabbitMQ's quorum
queues scramble returned messages and drop hurried acks unless they are handled with care."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from broker import declare
from broker.deadletters import DeadLetter, DeadLetterBox, MessagesNotFound
from broker.publisher import ConfirmingPublisher, OutgoingMessage
from broker.settings import BrokerSettings
from broker.topology import QueueSpec, Topology, describe
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

N = 300  # well above the ~32 held messages where returns and acks went wrong


@pytest.fixture
def topo(rabbitmq_url: str, session_id: str) -> Iterator[Topology]:
    """A private topology with no worker on it."""
    # A name of its own per test: a quorum queue deleted and declared again at once under
    # the same name may still hold the old one's messages.
    prefix = f"bk-box-{session_id}-{uuid.uuid4().hex[:6]}"
    topology = describe(BrokerSettings(prefix=prefix, queues=("default",)))
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    yield topology
    with Connection(rabbitmq_url) as conn:
        declare.delete(conn, topology)


def ready(url: str, queue: str) -> int:
    with Connection(url) as conn, conn.channel() as channel:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)


@pytest.fixture
def filled(rabbitmq_url: str, topo: Topology) -> tuple[QueueSpec, list[str]]:
    spec = topo.work_queue("default")
    keys = [f"m{i}" for i in range(N)]
    publisher = ConfirmingPublisher(rabbitmq_url)
    try:  # confirmed, so every message is in the DLQ before the test looks
        publisher.publish(
            [
                OutgoingMessage(
                    key,
                    topo.dead_letter_exchange.name,
                    spec.routing_key,
                    b"[[], {}, {}]",
                    headers={"id": key},
                )
                for key in keys
            ]
        )
    finally:
        publisher.close()
    assert spec.dead_letter_queue is not None
    wait_for(lambda: ready(rabbitmq_url, spec.dead_letter_queue or "") == N)
    return spec, keys


def to_work(spec: QueueSpec) -> Any:
    def rewrite(letter: DeadLetter) -> OutgoingMessage:
        return letter.outgoing(spec.exchange, spec.routing_key)

    return rewrite


def test_peeking_gives_every_message_back_in_its_order(
    rabbitmq_url: str, filled: tuple[QueueSpec, list[str]]
) -> None:
    spec, keys = filled
    box = DeadLetterBox(rabbitmq_url)
    dlq = spec.dead_letter_queue or ""

    assert [x.key for x in box.peek(dlq, 10)] == keys[:10]
    assert [x.key for x in box.peek(dlq, N)] == keys
    assert [x.key for x in box.peek(dlq, N)] == keys
    assert box.find(dlq, keys[-1]).key == keys[-1]
    assert ready(rabbitmq_url, dlq) == N


def test_moving_a_scattered_selection_moves_exactly_it_and_keeps_the_rest_in_order(
    rabbitmq_url: str, filled: tuple[QueueSpec, list[str]]
) -> None:
    spec, keys = filled
    box = DeadLetterBox(rabbitmq_url)
    dlq = spec.dead_letter_queue or ""
    chosen = keys[5::7]

    moved = box.move(dlq, to_work(spec), chosen)

    assert [x.key for x in moved] == chosen
    rest = [k for k in keys if k not in set(chosen)]
    wait_for(lambda: ready(rabbitmq_url, spec.name) == len(chosen))
    assert [x.key for x in box.peek(dlq, N)] == rest
    assert ready(rabbitmq_url, dlq) == len(rest)


def test_moving_the_head_then_everything_leaves_nothing_behind_and_nothing_twice(
    rabbitmq_url: str, filled: tuple[QueueSpec, list[str]]
) -> None:
    spec, keys = filled
    box = DeadLetterBox(rabbitmq_url)
    dlq = spec.dead_letter_queue or ""

    assert [x.key for x in box.move(dlq, to_work(spec), keys[:50])] == keys[:50]
    assert [x.key for x in box.peek(dlq, N)] == keys[50:]
    assert [x.key for x in box.move(dlq, to_work(spec), None)] == keys[50:]

    wait_for(lambda: ready(rabbitmq_url, spec.name) == N)
    assert ready(rabbitmq_url, dlq) == 0


def test_a_selection_naming_a_missing_message_moves_nothing(
    rabbitmq_url: str, filled: tuple[QueueSpec, list[str]]
) -> None:
    spec, keys = filled
    box = DeadLetterBox(rabbitmq_url)
    dlq = spec.dead_letter_queue or ""

    with pytest.raises(MessagesNotFound) as missing:
        box.move(dlq, to_work(spec), [keys[3], "nope"])

    assert missing.value.keys == {"nope"}
    assert [x.key for x in box.peek(dlq, N)] == keys
    assert ready(rabbitmq_url, spec.name) == 0
