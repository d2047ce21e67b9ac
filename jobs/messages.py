"""Build Celery protocol-2 task messages without a kombu Producer.

The message is exactly what ``apply_async`` would send (Celery builds it), so any
Celery worker consumes it; only the transport differs (pipelined confirms).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kombu.utils.json import dumps

from broker.publisher import OutgoingMessage
from broker.topology import QueueSpec
from jobs.celery_app import BeatkeeperCelery


def task_message(
    app: BeatkeeperCelery,
    *,
    task_id: str,
    name: str,
    kwargs: dict[str, Any],
    queue: QueueSpec,
    priority: int | None = None,
    expires: datetime | None = None,
    headers: dict[str, Any] | None = None,
    args: Sequence[Any] = (),
) -> OutgoingMessage:
    """The message for one run: ``task_id`` doubles as AMQP ``message_id`` for de-duplication."""
    built = app.amqp.as_task_v2(
        task_id,
        name,
        args=tuple(args),
        kwargs=kwargs,
        expires=expires,
        ignore_result=app.conf.task_ignore_result,
        # Celery would saferepr() the arguments for logs and events; the kwargs are
        # already JSON-ready, so plain repr is exact and several times cheaper.
        argsrepr=_short_repr(tuple(args)),
        kwargsrepr=_short_repr(kwargs),
    )
    message_headers = dict(built.headers)
    if headers:
        message_headers.update(headers)
    properties: dict[str, Any] = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "correlation_id": task_id,
    }
    if built.properties.get("reply_to"):
        properties["reply_to"] = built.properties["reply_to"]
    if priority is not None:
        properties["priority"] = priority
    return OutgoingMessage(
        message_id=task_id,
        exchange=queue.exchange,
        routing_key=queue.routing_key,
        body=dumps(built.body).encode("utf-8"),
        headers=message_headers,
        properties=properties,
    )


def _short_repr(value: Any, limit: int = 1024) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Headers of a fire the beat hands to the broker ahead of its time (held in a delay queue).
DUE_AT_HEADER = "beatkeeper_due_at"  # when the broker should release it (ISO 8601)
# "schedule" when the expiry is the schedule's own ``expires_seconds``, "period" when it is
# the default (one period): only the default is stretched by a late release.
EXPIRY_HEADER = "beatkeeper_expiry"
