"""Is the broker reachable? A cheap check for health endpoints and start-up scripts."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import amqp
from kombu import Connection
from kombu.utils.url import parse_url


@dataclass(frozen=True)
class BrokerHealth:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "latency_ms": round(self.latency_ms, 2), "error": self.error}


def check(url: str, timeout: float = 2.0) -> BrokerHealth:
    """Open and close one AMQP connection; never raises."""
    started = time.perf_counter()
    try:
        with Connection(url, connect_timeout=timeout, heartbeat=0) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return BrokerHealth(
            False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
        )
    return BrokerHealth(True, (time.perf_counter() - started) * 1000)


def check_publish(url: str, timeout: float = 2.0) -> BrokerHealth:
    """Publish one message and wait for the broker's confirm; never raises, never hangs.

    A connection alone is not enough: under a memory or disk alarm RabbitMQ accepts
    connections but blocks publishers, and the confirm never comes (nor the answer to a
    graceful close, so a failed check drops its socket instead). The message goes to the
    default exchange with a routing key no queue has, so it is confirmed and dropped.
    """
    started = time.perf_counter()
    parts = parse_url(url)
    conn = amqp.Connection(
        host=f"{parts['hostname'] or '127.0.0.1'}:{parts['port'] or 5672}",
        userid=parts["userid"] or "guest",
        password=parts["password"] or "guest",
        virtual_host=parts["virtual_host"] or "/",
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        heartbeat=0,
    )
    try:
        conn.connect()
        channel = conn.channel()
        channel.confirm_select()
        channel.basic_publish(
            amqp.Message(b"", delivery_mode=1),
            exchange="",
            routing_key=f"beatkeeper.health.{uuid.uuid4().hex}",
            confirm_timeout=timeout,
        )
        conn.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot publish"
        conn.collect()
        return BrokerHealth(
            False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"
        )
    return BrokerHealth(True, (time.perf_counter() - started) * 1000)
