"""Dead-letter queues over plain AMQP: peek, move back to a work queue, purge.

Nothing here knows about jobs or runs, and nothing needs the management plugin.

What reading a quorum queue does, measured on RabbitMQ 3.10.8 with up to 5,000 messages:

- Messages are received through a consumer with manual acks and given back by closing
  the channel: they return to the head of the queue in their original order. (Returned by
  ``basic.reject``/``nack`` one by one, or fetched with ``basic.get`` and given back by a
  close, they come back scrambled once more than about 32 are held.) Each read raises a
  message's ``x-delivery-count`` by one; a DLQ has no delivery limit on 3.x, but RabbitMQ
  4.x gives quorum queues a default limit of 20, so set the DLQs' limit to -1 there before
  reading a message that often. While one reader holds messages, others do not see them.
- Acks are asynchronous: many single acks followed at once by a close lose some (the
  queue's client stashes settlements above ~32 in flight and drops them on close). So
  messages are only ever removed with ONE ``basic.ack(multiple=True)``: a move takes a
  prefix of the queue, or, for a selection further in, publishes every other held
  message back to the queue in order (with confirms) and then acks all it holds.

Moving is publish-confirm first, ack second: a crash between the two leaves a message in
both places (a duplicate the consumer removes by message id), never in neither.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import amqp
from amqp.exceptions import NotFound
from kombu.utils.url import parse_url

from broker.names import DELIVERY_COUNT_HEADER, ORIGIN_QUEUE_HEADER, REASON_HEADER
from broker.publisher import (
    CONNECTION_ERRORS,
    ConfirmingPublisher,
    OutgoingMessage,
    PublishError,
)

# Headers dropped when a message goes back to work: why it died (it is alive again), and
# the quorum queue's count of its deliveries from the DLQ (reads), which the worker would
# otherwise take for deliveries of the job.
DEAD_HEADERS = (REASON_HEADER, ORIGIN_QUEUE_HEADER, DELIVERY_COUNT_HEADER)
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


class QueueTooLong(RuntimeError):
    """A selective move would have to re-publish more messages than allowed."""


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
        """The queue it died in: the worker names it on the copies it dead-letters itself."""
        given = self.headers.get(ORIGIN_QUEUE_HEADER)
        if given:
            return str(_plain(given))
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
        drop_headers: Collection[str] = DEAD_HEADERS,
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


@dataclass
class _Session:
    channel: Any
    ready: int  # messages ready when the session began
    expect_ready: int | None = None


class DeadLetterBox:
    """Reads and moves the messages of dead-letter queues; one short connection per call."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        publisher: Callable[[], ConfirmingPublisher] | None = None,
        idle_timeout: float = 2.0,
        ssl: dict[str, Any] | None = None,
    ) -> None:
        self._url = url
        self._ssl = ssl
        self._connect_timeout = connect_timeout
        self._publisher = publisher or (lambda: ConfirmingPublisher(url, ssl=ssl))
        # How long to wait for a counted message that does not come (someone else took it).
        self._idle_timeout = idle_timeout

    @contextmanager
    def _session(self, queue: str) -> Iterator[_Session]:
        """A channel on a fresh connection; closing it gives back every unacked message.

        Messages given back reach the queue a moment after the close. If the caller set
        ``expect_ready``, wait (at most ``idle_timeout``) until that many are ready again, so
        that a listing right after a peek or a move does not find the queue short.
        """
        parts = parse_url(self._url)
        ssl = self._ssl or (True if parts["transport"] == "amqps" else None)
        conn = amqp.Connection(
            host=f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or (5671 if ssl else 5672)}",
            ssl=ssl or False,
            userid=parts["userid"] or "guest",
            password=parts["password"] or "guest",
            virtual_host=parts["virtual_host"] or "/",
            connect_timeout=self._connect_timeout,
            heartbeat=0,
        )
        try:
            conn.connect()
            channel = conn.channel()
            session = _Session(channel, self._ready(channel, queue))
            try:
                yield session
            finally:  # also when the caller refused (e.g. an id not found) after reading
                if session.expect_ready is not None:
                    with suppress(*CONNECTION_ERRORS, amqp.exceptions.ChannelError):
                        channel.close()
                        self._await_ready(conn.channel(), queue, session.expect_ready)
        except NotFound:
            raise DeadLetterQueueMissing(f"queue {queue!r} is not declared") from None
        except (*CONNECTION_ERRORS, amqp.exceptions.ChannelError) as exc:
            raise BrokerUnavailable(f"broker unreachable or refused: {exc}") from exc
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
                conn.collect()

    def _await_ready(self, channel: Any, queue: str, expected: int) -> None:
        deadline = time.monotonic() + self._idle_timeout
        while self._ready(channel, queue) < expected and time.monotonic() < deadline:
            time.sleep(0.01)

    @staticmethod
    def _ready(channel: Any, queue: str) -> int:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)

    def _hold(self, channel: Any, queue: str, want: int) -> list[tuple[int, DeadLetter]]:
        """Receive ``want`` messages (or all there are) and hold them unacked, in queue order.

        A quorum queue may deliver a few more than the prefetch asks: they are held too.
        """
        if want <= 0:
            return []
        received: list[Any] = []
        channel.basic_qos(0, min(want, 65535), False)
        channel.basic_consume(queue=queue, no_ack=False, callback=received.append)
        while len(received) < want:
            try:
                channel.connection.drain_events(timeout=self._idle_timeout)
            except TimeoutError:
                break
        return [(m.delivery_tag, _letter(m)) for m in received]

    def count(self, queue: str) -> int:
        """Messages ready in ``queue`` (held ones, e.g. by a peek in progress, not counted)."""
        with self._session(queue) as session:
            return session.ready

    def peek(self, queue: str, limit: int = 100) -> list[DeadLetter]:
        """The first ``limit`` messages, head first, all given back in order."""
        with self._session(queue) as session:
            held = self._hold(session.channel, queue, min(limit, session.ready))
            session.expect_ready = session.ready
        return [letter for _, letter in held[:limit]]

    def find(self, queue: str, key: str, scan_limit: int = 10_000) -> DeadLetter:
        """The message ``key``, looking at no more than ``scan_limit`` messages."""
        with self._session(queue) as session:
            held = self._hold(session.channel, queue, min(scan_limit, session.ready))
            session.expect_ready = session.ready
        for _, letter in held:
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
        """Publish the messages ``keys`` (all if None) with ``rewrite``, then remove them here.

        All or nothing for named keys: if one is missing nothing is published. ``keys=None``
        takes what the queue held when the call began, so messages that die again while it
        runs are not cycled forever. Returns the moved messages in queue order.
        """
        with self._session(queue) as session:
            channel, ready = session.channel, session.ready
            session.expect_ready = ready  # until something is removed
            if keys is None:
                held = self._hold(channel, queue, min(ready, scan_limit))
                chosen = held[: min(ready, scan_limit)]
            else:
                if ready > scan_limit:
                    raise QueueTooLong(
                        f"{queue!r} holds {ready} messages; a selective move reads at most "
                        f"{scan_limit}: move all, or purge"
                    )
                held = self._hold(channel, queue, ready)
                wanted = set(keys)
                chosen = [(tag, letter) for tag, letter in held if letter.key in wanted]
                missing = wanted - {letter.key for _, letter in chosen}
                if missing:
                    raise MessagesNotFound(queue, missing)
            refused = self._publish([rewrite(letter) for _, letter in chosen])
            moved = [(tag, letter) for tag, letter in chosen if letter.key not in refused]
            self._remove(channel, queue, held, {tag for tag, _ in moved})
            session.expect_ready = ready - len(moved)
            if refused:
                raise BrokerUnavailable(
                    f"{len(refused)} of {len(chosen)} not moved (left in {queue!r}): "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(refused.items())[:5])
                )
        return [letter for _, letter in moved]

    def _remove(
        self, channel: Any, queue: str, held: list[tuple[int, DeadLetter]], tags: set[int]
    ) -> None:
        """Remove the held messages ``tags``; the others stay, in order, at the head."""
        if not tags:
            return
        prefix = 0
        while prefix < len(held) and held[prefix][0] in tags:
            prefix += 1
        if prefix == len(tags):
            last = held[prefix - 1][0]  # the others go back to the head on close
        else:
            # Not a prefix: put every other held message back at the tail in order (as all
            # of the queue is held, that is the same order), then remove all that is held.
            kept = [letter for tag, letter in held if tag not in tags]
            refused = self._publish(
                [
                    letter.outgoing("", queue, drop_headers=(DELIVERY_COUNT_HEADER,))
                    for letter in kept
                ]
            )
            if refused:
                raise BrokerUnavailable(
                    f"could not keep {len(refused)} message(s) in {queue!r}; nothing removed "
                    "(the moved messages may now be in both queues)"
                )
            last = held[-1][0]
        channel.basic_ack(last, multiple=True)

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
        with self._session(queue) as session:
            return int(session.channel.queue_purge(queue=queue) or 0)
