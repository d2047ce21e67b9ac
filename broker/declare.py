"""Declare and verify the topology on a live broker."""

from __future__ import annotations

from dataclasses import dataclass

from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection

from broker.topology import Topology, kombu_exchange


class TopologyError(RuntimeError):
    """The broker's exchanges or queues do not match the topology in code."""


@dataclass(frozen=True)
class QueueState:
    name: str
    messages: int
    consumers: int


def declare(connection: Connection, topology: Topology) -> list[QueueState]:
    """Declare every exchange and queue (idempotent); return each queue's depth."""
    states = []
    with connection.channel() as channel:
        for spec in topology.exchanges:
            kombu_exchange(spec)(channel).declare()
    for queue_spec in topology.all_queues:
        # A failed declare closes the channel, so each queue gets its own.
        with connection.channel() as channel:
            try:
                ok = channel.queue_declare(
                    queue=queue_spec.name,
                    durable=True,
                    auto_delete=False,
                    arguments=queue_spec.arguments_dict,
                )
            except PreconditionFailed as exc:
                raise TopologyError(
                    f"queue {queue_spec.name!r} exists with other arguments than the topology "
                    f"in code ({exc.reply_text}); delete it or align the BEATKEEPER_* settings"
                ) from exc
            channel.queue_bind(
                queue=queue_spec.name,
                exchange=queue_spec.exchange,
                routing_key=queue_spec.routing_key,
                arguments=dict(queue_spec.binding_arguments) or None,
            )
            states.append(QueueState(queue_spec.name, ok.message_count, ok.consumer_count))
    return states


def verify(connection: Connection, topology: Topology) -> list[QueueState]:
    """Check every queue exists with the arguments in code, creating nothing.

    A passive declare proves existence; an active declare of an existing queue then
    proves its arguments match (RabbitMQ answers PreconditionFailed otherwise).
    """
    states = []
    for spec in topology.all_queues:
        with connection.channel() as channel:
            try:
                channel.queue_declare(queue=spec.name, passive=True)
            except NotFound as exc:
                raise TopologyError(
                    f"queue {spec.name!r} is missing; run `python -m broker declare`"
                ) from exc
        with connection.channel() as channel:
            try:
                ok = channel.queue_declare(
                    queue=spec.name, durable=True, auto_delete=False, arguments=spec.arguments_dict
                )
            except PreconditionFailed as exc:
                raise TopologyError(
                    f"queue {spec.name!r} differs from the topology in code: {exc.reply_text}"
                ) from exc
            states.append(QueueState(spec.name, ok.message_count, ok.consumer_count))
    return states


def delete(connection: Connection, topology: Topology) -> None:
    """Delete every queue and exchange of ``topology`` (test clean-up, teardown)."""
    with connection.channel() as channel:
        for spec in topology.all_queues:
            channel.queue_delete(queue=spec.name)
        for ex in topology.exchanges:
            channel.exchange_delete(exchange=ex.name)
