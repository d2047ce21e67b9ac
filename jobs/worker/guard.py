"""Which messages the worker must not run, and why: pure checks on a received message.

Celery 5.7 crashes the whole worker on a task message without an ``id`` header
(``KeyError``) or whose body is not the ``[args, kwargs, embed]`` triple (``ValueError``),
and acks (drops) a body it cannot decode. Each check here names the fault so that the
consumer (``jobs.worker.consumer``) can dead-letter the message with its reason instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import ContentDisallowed

from broker.names import DELIVERY_COUNT_HEADER


@dataclass(frozen=True)
class Verdict:
    """Why a message is dead-lettered; ``kind`` is a short label for counting."""

    kind: str
    reason: str


def delivery_count(headers: Mapping[str, Any]) -> int:
    """How many times this message was delivered before (the quorum queue's count)."""
    try:
        return max(0, int(headers.get(DELIVERY_COUNT_HEADER) or 0))
    except (TypeError, ValueError):
        return 0


def _decoded(message: Any) -> tuple[Any, Verdict | None]:
    try:
        return message.decode(), None
    except ContentDisallowed as exc:
        return None, Verdict("content-type", f"content type not accepted: {exc}")
    except Exception as exc:  # noqa: BLE001  (any decoder error: the body cannot be read)
        return None, Verdict("undecodable", f"body cannot be decoded: {type(exc).__name__}: {exc}")


def body_shape(body: Any) -> Verdict | None:
    """Celery protocol 2: the body is ``[args (list), kwargs (dict), embed (dict)]``."""
    if not isinstance(body, list | tuple) or len(body) != 3:
        got = type(body).__name__ + (f" of {len(body)}" if isinstance(body, list | tuple) else "")
        return Verdict("body-shape", f"body is not [args, kwargs, embed] (got a {got})")
    args, kwargs, embed = body
    if not isinstance(args, list | tuple):
        return Verdict("body-shape", "args in the body is not a list")
    if not isinstance(kwargs, dict):
        return Verdict("body-shape", "kwargs in the body is not an object")
    if not isinstance(embed, dict):
        return Verdict("body-shape", "embed in the body is not an object")
    return None


def inspect(message: Any, tasks: Collection[str], delivery_limit: int | None) -> Verdict | None:
    """None when Celery can run ``message``; else why it must be dead-lettered."""
    headers = message.headers
    if not isinstance(headers, dict):
        return Verdict("headers", "the message has no headers")
    task = headers.get("task")
    if not isinstance(task, str) or not task:
        return Verdict("no-task", "no task header: not a Celery task message (protocol 2)")
    if task not in tasks:
        return Verdict("unknown-task", f"unknown task {task!r}")
    task_id = headers.get("id")
    if not isinstance(task_id, str) or not task_id:
        return Verdict("no-id", "no id header: the run cannot be identified")
    body, verdict = _decoded(message)
    if verdict is not None:
        return verdict
    verdict = body_shape(body)
    if verdict is not None:
        return verdict
    count = delivery_count(headers)
    if delivery_limit is not None and count >= delivery_limit:
        # The last delivery RabbitMQ allows: earlier ones died with their worker. Running it
        # again would most likely kill this worker too, and RabbitMQ would then dead-letter
        # it with no word on the run; dead-letter it here, with the reason, instead.
        return Verdict("worker-lost", f"worker lost {count} times")
    return None
