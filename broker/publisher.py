"""Publish batches with pipelined publisher confirms over one py-amqp connection.

Celery's producer waits for one confirm round-trip per message; here a batch is
written in one go and its confirms are drained together, which is what makes a
burst of thousands of messages per second possible from one Python process.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from kombu.utils.url import parse_url

from broker.policies import PublishRetryPolicy

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Some messages of a batch were not confirmed by the broker."""

    def __init__(self, message: str, failed: dict[str, str]):
        super().__init__(message)
        self.failed = failed  # message_id -> reason


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for the wire; ``message_id`` is how confirms are matched."""

    message_id: str
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    # Epoch seconds: the message goes to a hold queue with a per-message TTL that runs out
    # then. The TTL is computed just before the publish, because it counts from enqueueing.
    deliver_at: float | None = None


Declarer = Callable[[Any], None]

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.timeout,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    amqp.exceptions.ConnectionForced,
)

RETRYABLE: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, TimeoutError)


class ConfirmingPublisher:
    """One connection, one channel in confirm mode. Not thread-safe: give it one owner thread."""

    def __init__(
        self,
        url: str,
        *,
        retry: PublishRetryPolicy | None = None,
        declare: Declarer | None = None,
        confirm_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        ssl: dict[str, Any] | None = None,
    ) -> None:
        self._url = url
        self._ssl = ssl
        self._retry = retry or PublishRetryPolicy()
        self._declare = declare
        self._confirm_timeout = confirm_timeout
        self._connect_timeout = connect_timeout
        self._conn: amqp.Connection | None = None
        self._channel: Any = None
        self._next_tag = 1
        self._pending: dict[int, str] = {}
        self._failed: dict[str, str] = {}
        self._confirmed: set[str] = set()

    # -- connection -------------------------------------------------------------
    def _connect(self) -> None:
        parts = parse_url(self._url)
        ssl = self._ssl or (True if parts["transport"] == "amqps" else None)
        default_port = 5671 if ssl else 5672
        host = f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or default_port}"
        conn = amqp.Connection(
            host=host,
            ssl=ssl or False,
            userid=parts["userid"] or "guest",
            password=parts["password"] or "guest",
            virtual_host=parts["virtual_host"] or "/",
            connect_timeout=self._connect_timeout,
            heartbeat=0,  # idle connections are re-made on failure instead
        )
        conn.connect()
        channel = conn.channel()
        if self._declare is not None:
            self._declare(channel)
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self._conn, self._channel, self._next_tag = conn, channel, 1

    def close(self) -> None:
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail any way
                conn.collect()

    def ensure_connected(self) -> None:
        if self._conn is None:
            self._connect()

    # -- confirms ---------------------------------------------------------------
    def _settle(self, tag: int, multiple: bool, reason: str | None) -> None:
        tags = [t for t in self._pending if t <= tag] if multiple else [tag]
        for t in tags:
            message_id = self._pending.pop(t, None)
            if message_id is None:
                continue
            if reason is None:
                self._confirmed.add(message_id)
            else:
                self._failed.setdefault(message_id, reason)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, None)

    def _on_nack(self, delivery_tag: int, multiple: bool, *_: Any) -> None:
        self._settle(delivery_tag, multiple, "nacked by the broker")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        message_id = message.properties.get("message_id", "?")
        self._failed[message_id] = f"unroutable: no queue bound for {exchange!r}/{routing_key!r}"

    # -- publishing -------------------------------------------------------------
    def _publish_once(self, messages: Sequence[OutgoingMessage]) -> dict[str, str]:
        self.ensure_connected()
        assert self._conn is not None
        self._pending.clear()
        self._failed = {}
        for msg in messages:
            props = dict(msg.properties)
            props.setdefault("delivery_mode", 2)
            props["message_id"] = msg.message_id
            if msg.deliver_at is not None:
                props["expiration"] = str(max(0, int((msg.deliver_at - time.time()) * 1000)))
            self._channel.basic_publish(
                amqp.Message(msg.body, application_headers=msg.headers, **props),
                exchange=msg.exchange,
                routing_key=msg.routing_key,
                mandatory=True,
            )
            self._pending[self._next_tag] = msg.message_id
            self._next_tag += 1
        deadline = time.monotonic() + self._confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._pending)} publishes unconfirmed")
            try:
                self._conn.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        return self._failed

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish ``messages`` and wait for every confirm.

        Connection failures are retried with the publish retry policy, resending only the
        messages not confirmed yet (one whose confirm was lost in the failure may arrive
        twice, under the same ``message_id``). Raises :class:`PublishError` naming exactly
        the messages the broker refused or never confirmed; every other one was confirmed.
        """
        remaining = list(messages)
        refused: dict[str, str] = {}
        self._confirmed = set()
        attempt = 0
        while remaining:
            try:
                refused.update(self._publish_once(remaining))
                break
            except amqp.exceptions.ChannelError as exc:
                # e.g. a missing exchange: the channel is closed and would no longer be in
                # confirm mode if py-amqp reopened it; start afresh next time.
                self.close()
                reason = f"refused by the broker: {exc}"
                refused.update(
                    {m.message_id: reason for m in remaining if m.message_id not in self._confirmed}
                )
                break
            except RETRYABLE as exc:
                self.close()
                refused.update(self._failed)  # refused outright: resending will not help
                remaining = [
                    m
                    for m in remaining
                    if m.message_id not in self._confirmed and m.message_id not in refused
                ]
                if attempt >= self._retry.max_retries:
                    reason = f"broker unreachable after {attempt + 1} attempts: {exc}"
                    refused.update({m.message_id: reason for m in remaining})
                    break
                delay = self._retry.delay(attempt)
                log.warning("publish failed (%s); retry %d in %.2fs", exc, attempt + 1, delay)
                time.sleep(delay)
                attempt += 1
        if refused:
            raise PublishError(f"{len(refused)} of {len(messages)} messages refused", refused)
