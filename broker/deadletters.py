"""Dead-letter queues over plain AMQP: peek, move back to a work queue, purge.

Nothing here knows about jobs or runs, and nothing needs the management plugin.

Peeking fetches messages with ``basic.get`` and manual acks, then gives them back by
closing the channel. Measured on RabbitMQ 3.10.8 with quorum queues: messages returned by
a channel closing go back to the head of the queue in their original order, whereas a
``basic.reject``/``nack`` with requeue appends them at the tail and would reorder the
queue. Each peek raises a message's ``x-delivery-count`` by one (a DLQ has no delivery
limit on 3.x; on RabbitMQ 4.x, whose quorum queues default to a limit of 20, give the DLQs
a limit of -1 before peeking a message that often). While one reader holds messages,
other readers do not see them, and a process that dies while holding them gives them back
the same way.

Moving is publish-confirm first, ack second: a crash between the two leaves the message in
both queues (a duplicate the consumer removes by message id), never in neither.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection
from kombu.exceptions import OperationalError

from broker.names import REASON_HEADER
from broker.publisher import ConfirmingPublisher, OutgoingMessage, PublishError

# Properties copied when a message is published again; ``expiration`` is not among them
# (RabbitMQ removes it when it dead-letters an expired message, and so do we).
KEPT_PROPERTIES = (
    "content_type",
    "content_encoding",
    "correlation_id",
    "reply_to",
    "priority",
    "timestamp",
    "type",
    "app_id",
)


class DeadLetterQueueMissing(LookupError):
    """The queue is not declared on the broker."""


class MessagesNotFound(LookupError):
    """Some of the asked-for messages are not in the queue; nothing was moved."""

    def __init__(self, queue: str, keys: Collection[str]) -> None:
        super().__init__(f"not in {queue!r}: {', '.join(sorted(keys))}")
        self.keys = frozenset(keys)


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or refused the operation."""


def _plain(value: Any) -> Any:
    """AMQP table values as JSON-ready Python values (bytes as text, times as ISO)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as fetched; ``key`` identifies it within its queue."""

    key: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    body: bytes
    routing_key: str

    @property
    def deaths(self) -> list[dict[str, Any]]:
        """RabbitMQ's ``x-death`` entries, the most recent first."""
        raw = self.headers.get("x-death") or []
        return [_plain(entry) for entry in raw if isinstance(entry, dict)]

    @property
    def reason(self) -> str:
        """Why it is here: the reason the consumer gave in ``REASON_HEADER`` (e.g. ``poison``),
        else RabbitMQ's (``rejected``, ``delivery_limit``, ``expired``, ``maxlen``)."""
        given = self.headers.get(REASON_HEADER)
        if given:
            return str(_plain(given))
        deaths = self.deaths
        return str(deaths[0].get("reason", "unknown")) if deaths else "unknown"

    @property
    def source_queue(self) -> str | None:
        deaths = self.deaths
        return str(deaths[0]["queue"]) if deaths and "queue" in deaths[0] else None

    @property
    def died_at(self) -> str | None:
        deaths = self.deaths
        return deaths[0].get("time") if deaths else None

    @property
    def death_count(self) -> int:
        return sum(int(d.get("count", 1)) for d in self.deaths)

    def outgoing(
        self,
        exchange: str,
        routing_key: str,
        *,
        drop_headers: Collection[str] = (REASON_HEADER,),
        set_headers: dict[str, Any] | None = None,
    ) -> OutgoingMessage:
        """This message, ready to publish again under the same message id."""
        headers = {k: v for k, v in self.headers.items() if k not in drop_headers}
        headers.update(set_headers or {})
        properties = {k: self.properties[k] for k in KEPT_PROPERTIES if k in self.properties}
        return OutgoingMessage(self.key, exchange, routing_key, self.body, headers, properties)


def message_key(headers: dict[str, Any], properties: dict[str, Any], body: bytes) -> str:
    """The AMQP message id, else Celery's ``id`` header, else a digest of the content."""
    for value in (properties.get("message_id"), headers.get("id")):
        if value:
            return str(_plain(value))
    digest = hashlib.sha256(body + repr(sorted(headers.items())).encode()).hexdigest()
    return f"sha256-{digest[:32]}"


def _letter(message: Any) -> DeadLetter:
    headers = dict(message.headers or {})
    properties = dict(message.properties or {})
    properties.pop("application_headers", None)
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    key = message_key(headers, properties, body)
    routing_key = str(message.delivery_info.get("routing_key", ""))
    return DeadLetter(key, headers, properties, body, routing_key)


Rewrite = Callable[[DeadLetter], OutgoingMessage]


class DeadLetterBox:
    """Reads and moves the messages of dead-letter queues; one short connection per call."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        publisher: Callable[[], ConfirmingPublisher] | None = None,
    ) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._publisher = publisher or (lambda: ConfirmingPublisher(url))

    @contextmanager
    def _channel(self, queue: str) -> Iterator[Any]:
        """A channel on a fresh connection; closing it gives back every unacked message."""
        conn = Connection(self._url, connect_timeout=self._connect_timeout, heartbeat=0)
        try:
            conn.ensure_connection(max_retries=0, timeout=self._connect_timeout)
            channel = conn.channel()
            channel.queue_declare(queue=queue, passive=True)
            yield channel
        except NotFound:
            raise DeadLetterQueueMissing(f"queue {queue!r} is not declared") from None
        except (OperationalError, *conn.connection_errors, *conn.channel_errors, OSError) as exc:
            raise BrokerUnavailable(f"broker unreachable or refused: {exc}") from exc
        finally:
            conn.release()

    def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (held ones, e.g. by a peek in progress, not counted)."""
        with self._channel(queue) as channel:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)

    def _fetch(self, channel: Any, queue: str, limit: int) -> Iterator[tuple[int, DeadLetter]]:
        for _ in range(limit):
            message = channel.basic_get(queue=queue, no_ack=False)
            if message is None:
                return
            yield message.delivery_tag, _letter(message)

    def peek(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The first ``limit`` messages, head first, all given back in order."""
        with self._channel(queue) as channel:
            return [letter for _, letter in self._fetch(channel, queue, limit)]

    def find(self, queue: str, key: str, scan_limit: int = 10_000) -> DeadLetter:
        """The message ``key``, looking at no more than ``scan_limit`` messages."""
        with self._channel(queue) as channel:
            for _, letter in self._fetch(channel, queue, scan_limit):
                if letter.key == key:
                    return letter
        raise MessagesNotFound(queue, [key])

    def move(
        self,
        queue: str,
        rewrite: Rewrite,
        keys: Collection[str] | None = None,
        scan_limit: int = 10_000,
    ) -> list[DeadLetter]:
        """Publish the messages ``keys`` (all if None) with ``rewrite``, then ack them here.

        All or nothing for named keys: if one is missing nothing is published. ``keys=None``
        takes what the queue held when the call began, so messages that die again while it
        runs are not cycled forever. Returns the moved messages in queue order.
        """
        wanted = None if keys is None else set(keys)
        with self._channel(queue) as channel:
            limit = scan_limit
            if wanted is None:
                limit = int(channel.queue_declare(queue=queue, passive=True).message_count)
            chosen: list[tuple[int, DeadLetter]] = []
            for tag, letter in self._fetch(channel, queue, limit):
                if wanted is None or letter.key in wanted:
                    chosen.append((tag, letter))
                    if wanted is not None and len(chosen) == len(wanted):
                        break
            missing = (wanted or set()) - {letter.key for _, letter in chosen}
            if missing:
                raise MessagesNotFound(queue, missing)
            refused = self._publish([rewrite(letter) for _, letter in chosen])
            moved = [(tag, letter) for tag, letter in chosen if letter.key not in refused]
            for tag, _ in moved:
                channel.basic_ack(tag)
            if refused:
                raise BrokerUnavailable(
                    f"{len(refused)} of {len(chosen)} not moved (left in {queue!r}): "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(refused.items())[:5])
                )
            return [letter for _, letter in moved]

    def _publish(self, messages: list[OutgoingMessage]) -> dict[str, str]:
        if not messages:
            return {}
        publisher = self._publisher()
        try:
            publisher.publish(messages)
        except PublishError as exc:
            return exc.failed
        finally:
            publisher.close()
        return {}

    def purge(self, queue: str) -> int:
        """Delete every ready message of ``queue``; returns how many."""
        with self._channel(queue) as channel:
            return int(channel.queue_purge(queue=queue) or 0)
