"""RabbitMQ topology as data: one source of truth for workers, web and beat.

Every work queue is a quorum queue bound to a topic exchange, with its own
dead-letter queue on a dead-letter exchange. ``describe`` is pure; the kombu
objects built from it do no I/O until they are bound to a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue

from broker import names
from broker.settings import BrokerSettings


@dataclass(frozen=True)
class ExchangeSpec:
    name: str
    type: str = "topic"


@dataclass(frozen=True)
class QueueSpec:
    """One queue: where it is bound and the arguments RabbitMQ must agree on."""

    name: str
    short_name: str
    exchange: str
    routing_key: str
    arguments: tuple[tuple[str, Any], ...]
    dead_letter_queue: str | None = None
    binding_arguments: tuple[tuple[str, Any], ...] = ()

    @property
    def arguments_dict(self) -> dict[str, Any]:
        return dict(self.arguments)


@dataclass(frozen=True)
class Topology:
    exchange: ExchangeSpec
    dead_letter_exchange: ExchangeSpec
    work_queues: tuple[QueueSpec, ...]
    dead_letter_queues: tuple[QueueSpec, ...]
    hold_exchange: ExchangeSpec
    hold_queues: tuple[QueueSpec, ...]

    @property
    def all_queues(self) -> tuple[QueueSpec, ...]:
        return (*self.work_queues, *self.dead_letter_queues, *self.hold_queues)

    @property
    def exchanges(self) -> tuple[ExchangeSpec, ...]:
        return (self.exchange, self.dead_letter_exchange, self.hold_exchange)

    def work_queue(self, short_name: str) -> QueueSpec:
        for spec in self.work_queues:
            if spec.short_name == short_name:
                return spec
        known = ", ".join(q.short_name for q in self.work_queues)
        raise KeyError(f"unknown queue {short_name!r}; known queues: {known}")


def describe(settings: BrokerSettings) -> Topology:
    """Describe exchanges and queues for ``settings``: pure, no broker needed."""
    exchange = ExchangeSpec(names.exchange_name(settings.prefix))
    dlx = ExchangeSpec(names.dead_letter_exchange_name(settings.prefix))
    quorum: tuple[tuple[str, Any], ...] = (("x-queue-type", "quorum"),)
    if settings.quorum_group_size is not None:
        # Replicas made when the queue is declared (one per node of a 3-node cluster).
        # RabbitMQ compares it on every redeclare: all processes need the same value.
        quorum += (("x-quorum-initial-group-size", settings.quorum_group_size),)
    work: list[QueueSpec] = []
    dead: list[QueueSpec] = []
    for short in settings.queues:
        full = names.queue_name(settings.prefix, short)
        dlq = names.dead_letter_queue_name(settings.prefix, short)
        # The routing key is the full queue name: Celery's native delayed delivery binds
        # every queue to one shared exchange by routing key, so short keys would collide
        # between deployments (or test sessions) that share a vhost.
        key = full
        work.append(
            QueueSpec(
                name=full,
                short_name=short,
                exchange=exchange.name,
                routing_key=key,
                dead_letter_queue=dlq,
                arguments=(
                    *quorum,
                    ("x-dead-letter-exchange", dlx.name),
                    ("x-dead-letter-routing-key", key),
                    # At-least-once dead-lettering needs reject-publish overflow (RabbitMQ 3.10+);
                    # the default at-most-once can lose a message on its way to the DLQ.
                    ("x-dead-letter-strategy", "at-least-once"),
                    ("x-overflow", "reject-publish"),
                    # A poison message that kills workers is dead-lettered after this many
                    # redeliveries instead of looping forever (3.10 has no default limit).
                    ("x-delivery-limit", settings.delivery_limit),
                ),
            )
        )
        dead.append(
            QueueSpec(
                name=dlq,
                short_name=f"{short}.dlq",
                exchange=dlx.name,
                routing_key=key,
                arguments=quorum,
            )
        )
    # A headers exchange spreads held fires over the shards by a header and, unlike a
    # topic exchange, leaves the routing key free to carry the work queue's key.
    hold_exchange = ExchangeSpec(names.hold_exchange_name(settings.prefix), type="headers")
    hold = tuple(
        QueueSpec(
            name=names.hold_queue_name(settings.prefix, shard),
            short_name=f"delay.{shard}",
            exchange=hold_exchange.name,
            routing_key="",
            arguments=(
                *quorum,
                # Expired messages go to the work exchange with their own routing key, i.e.
                # to the work queue they were addressed to, within ~10 ms of their TTL.
                ("x-dead-letter-exchange", exchange.name),
                ("x-dead-letter-strategy", "at-least-once"),
                ("x-overflow", "reject-publish"),
            ),
            # Each quorum queue has one at-least-once dead-letter worker; several shards
            # release a burst of thousands of fires in parallel.
            binding_arguments=(("x-match", "all"), (names.HOLD_SHARD_HEADER, shard)),
        )
        for shard in range(settings.hold_shards)
    )
    return Topology(exchange, dlx, tuple(work), tuple(dead), hold_exchange, hold)


def kombu_exchange(spec: ExchangeSpec) -> Exchange:
    return Exchange(spec.name, type=spec.type, durable=True)


def kombu_queue(spec: QueueSpec) -> Queue:
    """A kombu ``Queue`` declaring exactly ``spec`` (same arguments everywhere)."""
    return Queue(
        spec.name,
        exchange=Exchange(spec.exchange, type="topic", durable=True),
        routing_key=spec.routing_key,
        durable=True,
        queue_arguments=spec.arguments_dict,
    )


def kombu_work_queues(topology: Topology) -> list[Queue]:
    return [kombu_queue(spec) for spec in topology.work_queues]
