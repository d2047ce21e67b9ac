"""The worker's consumer: a message it cannot run goes to its DLQ with the reason.

Plugged in through Celery's ``worker_consumer`` setting (a documented seam). Every task
message is checked (``jobs.worker.guard``) before Celery's own handler sees it, and
Celery's fallbacks for bad messages (``on_decode_error``, ``on_unknown_message``,
``on_unknown_task``, ``on_invalid_task``) dead-letter instead of dropping.

RabbitMQ cannot add a header when it dead-letters a rejected message, so the worker
publishes a copy to the queue's dead-letter exchange, with ``REASON_HEADER``, waits for the
broker's confirm and only then acks the original: a crash between the two leaves a
duplicate in the DLQ, never a loss. If the copy cannot be published the original is
rejected without requeue, and RabbitMQ dead-letters it (without the reason header).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from celery.worker.consumer.consumer import Consumer
from kombu import Producer

from broker.names import ORIGIN_QUEUE_HEADER, REASON_HEADER
from broker.topology import QueueSpec
from jobs.store.attempts import AttemptFinished, AttemptKey, NewRun, Outcome
from jobs.store.runs import utcnow
from jobs.worker import guard
from jobs.worker.outbox import outbox_for

log = logging.getLogger(__name__)

# Dead-lettered messages by kind of fault, for a later metrics endpoint.
POISON: Counter[str] = Counter()


def work_queue_of(message: Any, queues: tuple[QueueSpec, ...]) -> QueueSpec | None:
    """The work queue a delivery came from, by its routing key (native delayed delivery
    prefixes the key with its binary countdown digits: ``1.0.1.<key>``)."""
    key = (message.delivery_info or {}).get("routing_key") or ""
    for spec in queues:
        if key == spec.routing_key or key.endswith("." + spec.routing_key) or key == spec.name:
            return spec
    return None


class GuardedConsumer(Consumer):
    def create_task_handler(self, *args: Any, **kwargs: Any) -> Any:
        handler = super().create_task_handler(*args, **kwargs)
        limit = int(self.app.settings.broker.delivery_limit)

        def on_task_received(message: Any) -> Any:
            try:
                verdict = guard.inspect(message, self.app.tasks, limit)
            except Exception as exc:  # noqa: BLE001  (a check that fails is itself a verdict)
                verdict = guard.Verdict("guard-error", f"{type(exc).__name__}: {exc}")
            if verdict is not None:
                return self.dead_letter(message, verdict)
            try:
                return handler(message)
            except (KeyError, ValueError, TypeError) as exc:
                # Celery's request parsing raises these for a message it cannot take; the
                # checks above should have caught it, but the worker must not exit for it.
                verdict = guard.Verdict("unreadable", f"{type(exc).__name__}: {exc}")
                return self.dead_letter(message, verdict)

        return on_task_received

    # Celery's own fallbacks for bad messages: dead-letter with the reason, never drop.
    def on_decode_error(self, message: Any, exc: BaseException) -> None:
        self.dead_letter(message, guard.Verdict("undecodable", f"{type(exc).__name__}: {exc}"))

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self.dead_letter(message, guard.Verdict("no-task", "not a Celery task message"))

    def on_unknown_task(self, body: Any, message: Any, exc: BaseException) -> None:
        self.dead_letter(message, guard.Verdict("unknown-task", f"unknown task: {exc}"))

    def on_invalid_task(self, body: Any, message: Any, exc: BaseException) -> None:
        self.dead_letter(message, guard.Verdict("invalid", f"{type(exc).__name__}: {exc}"))

    # -- dead-lettering ---------------------------------------------------------------
    def dead_letter(self, message: Any, verdict: guard.Verdict) -> None:
        POISON[verdict.kind] += 1
        headers = dict(message.headers or {}) if isinstance(message.headers, dict) else {}
        spec = work_queue_of(message, self.app.topology.work_queues)
        log.warning(
            "dead-lettering a message from %s: %s (id=%r task=%r message_id=%r)",
            spec.name if spec else "an unknown queue",
            verdict.reason,
            headers.get("id"),
            headers.get("task"),
            (message.properties or {}).get("message_id"),
        )
        if spec is None or not self._publish_copy(message, headers, spec, verdict):
            message.reject(requeue=False)  # RabbitMQ dead-letters it, without our reason
        else:
            message.ack()
        if verdict.kind == "worker-lost" and spec is not None:
            self._record_lost(message, headers, spec, verdict)

    def _publish_copy(
        self, message: Any, headers: dict[str, Any], spec: QueueSpec, verdict: guard.Verdict
    ) -> bool:
        arguments = spec.arguments_dict
        properties = dict(message.properties or {})
        properties.pop("application_headers", None)
        delivery = properties.pop("delivery_mode", 2)
        try:
            # A connection of its own: the app's pooled ones may have gone stale in a worker
            # whose pool children were forked from it. Dead-lettering is rare; a connect is cheap.
            with self.app.connection_for_write() as conn:
                producer = Producer(conn.default_channel)
                # The app's broker_transport_options turn on publisher confirms: publish()
                # returns once RabbitMQ has the copy on the DLQ.
                producer.publish(
                    message.body,
                    exchange=arguments["x-dead-letter-exchange"],
                    routing_key=arguments.get("x-dead-letter-routing-key", spec.routing_key),
                    headers={
                        **headers,
                        REASON_HEADER: verdict.reason,
                        ORIGIN_QUEUE_HEADER: spec.name,
                    },
                    content_type=message.content_type or "application/octet-stream",
                    content_encoding=message.content_encoding or "binary",
                    delivery_mode=delivery,
                    retry=False,
                    mandatory=True,
                    **{
                        k: v
                        for k, v in properties.items()
                        if k in ("message_id", "correlation_id", "priority", "reply_to")
                    },
                )
            return True
        except Exception:
            log.exception("could not publish %s to the dead-letter exchange", headers.get("id"))
            return False

    def _record_lost(
        self, message: Any, headers: dict[str, Any], spec: QueueSpec, verdict: guard.Verdict
    ) -> None:
        try:
            args, kwargs, _ = message.decode()
            run = NewRun(headers["id"], headers["task"], spec.name, dict(kwargs), list(args))
            # This delivery does not run; the one before it died with its worker.
            count = guard.delivery_count(headers)
            key = AttemptKey(int(headers.get("retries") or 0), max(0, count - 1))
            outbox_for(self.app).put(
                AttemptFinished(
                    run,
                    key,
                    Outcome.WORKER_LOST,
                    utcnow(),
                    worker=self.hostname,
                    error=verdict.reason,
                    dead_lettered=True,
                )
            )
        except Exception:
            log.exception("could not record the dead-lettering of %s", headers.get("id"))
