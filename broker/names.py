"""Pure naming rules for exchanges and queues: no I/O, no kombu."""

from __future__ import annotations


def exchange_name(prefix: str) -> str:
    """The topic exchange every work queue is bound to."""
    return prefix


def dead_letter_exchange_name(prefix: str) -> str:
    """The exchange RabbitMQ (and the worker) dead-letter into."""
    return f"{prefix}.dlx"


HOLD_SHARD_HEADER = "beatkeeper-hold-shard"

# A message Beatkeeper itself rejects to a dead-letter queue (e.g. ``poison``: the worker
# cannot run it) names its reason in this AMQP header; RabbitMQ's own reasons are in x-death.
REASON_HEADER = "x-beatkeeper-reason"


def hold_exchange_name(prefix: str) -> str:
    """Where the beat publishes fires ahead of their time (see :func:`hold_queue_name`)."""
    return f"{prefix}.delay"


def hold_queue_name(prefix: str, shard: int) -> str:
    """Holds fires until their per-message TTL runs out, then dead-letters them to work queues."""
    return f"{prefix}.delay.{shard}"


def queue_name(prefix: str, queue: str) -> str:
    """The full name of a work queue; ``queue`` is its short name (``default``)."""
    return f"{prefix}.{queue}"


def dead_letter_queue_name(prefix: str, queue: str) -> str:
    """The dead-letter queue that collects what its work queue gave up on."""
    return f"{prefix}.{queue}.dlq"


# A message Beatkeeper dead-letters itself carries why in this header (the x-death header
# RabbitMQ adds says only "rejected" or "delivery_limit").
REASON_HEADER = "x-beatkeeper-reason"
# The work queue a message was dead-lettered from, on the copies the worker publishes.
ORIGIN_QUEUE_HEADER = "x-beatkeeper-queue"
# Set by quorum queues: how many times the message was delivered before and returned.
DELIVERY_COUNT_HEADER = "x-delivery-count"


# Celery's own names. Left at their defaults (``celery.pidbox``, ``celeryev``, ``celery@HOST``)
# they are shared by every app on a vhost: a second deployment would see, and could control,
# this one's workers, and its Flower would show this one's task arguments and results.
def control_namespace(prefix: str) -> str:
    """Celery's ``control_exchange``: kombu names the mailbox ``<it>.pidbox`` and its replies
    ``reply.<it>.pidbox``."""
    return prefix


def event_exchange_name(prefix: str) -> str:
    """Celery's ``event_exchange`` (and ``event_queue_prefix``) for worker and task events."""
    return f"{prefix}.celeryev"


def worker_node_name(prefix: str, host: str = "%h") -> str:
    """A worker's default node name: ``<prefix>@<host>`` instead of ``celery@<host>``."""
    return f"{prefix}@{host}"
