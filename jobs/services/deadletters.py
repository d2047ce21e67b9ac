"""Dead letters the API, the UI and the CLI act on: list, inspect, re-drive, purge.

A dead letter is joined to its run by id (the Celery task id is the run id and the AMQP
message id). Re-driving publishes the message to the work queue its dead-letter queue
belongs to, under the same id, and then puts the run back to PENDING: the run continues
with a new attempt. See ``broker/deadletters.py`` for what peeking does to a queue.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker.deadletters import (
    BrokerUnavailable,
    DeadLetter,
    DeadLetterBox,
    DeadLetterQueueMissing,
    MessagesNotFound,
    QueueTooLong,
)
from broker.publisher import ConfirmingPublisher, OutgoingMessage
from broker.topology import QueueSpec
from jobs.celery_app import BeatkeeperCelery
from jobs.errors import Conflict, Invalid, NotFound, Unavailable
from jobs.store.runs import RunRecord, utcnow

MAX_LIST = 1000
# Re-driving by id looks at no more than this many messages of one queue.
SCAN_LIMIT = 10_000


class UnknownDeadLetterQueue(NotFound):
    """No work queue of that name, so no dead-letter queue either."""


class UnknownDeadLetter(NotFound):
    """Named messages are not in the dead-letter queue; ``ids`` lists them."""

    def __init__(self, message: str, ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.ids = list(ids)


class ConfirmationRequired(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__([{"field": "confirm", "message": message}], message)


class InvalidSelection(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "message": message}], message)


class DeadLetterQueueTooLong(Conflict):
    """Too many messages to re-drive a selection; re-drive all or purge instead."""


class DeadLettersUnavailable(Unavailable):
    """The broker could not be reached, or the queue is not declared on it."""


@dataclass(frozen=True)
class QueueView:
    queue: str  # the work queue's short name, e.g. ``default``
    work_queue: str
    dead_letter_queue: str
    count: int


@dataclass(frozen=True)
class LetterView:
    """One dead letter with its run (None if no run row has its id)."""

    id: str
    run_id: str | None
    job: str | None
    reason: str
    source_queue: str | None
    died_at: str | None
    death_count: int
    run: RunRecord | None
    letter: DeadLetter

    @property
    def body(self) -> Any:
        """The body as JSON if it parses, else as text, else as base64."""
        raw = self.letter.body
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            pass
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode()

    @property
    def headers(self) -> dict[str, Any]:
        return {k: v for k, v in _json_ready(self.letter.headers).items() if k != "x-death"}

    @property
    def properties(self) -> dict[str, Any]:
        result: dict[str, Any] = _json_ready(self.letter.properties)
        return result


@dataclass(frozen=True)
class Listing:
    queue: QueueView
    letters: list[LetterView]


@dataclass(frozen=True)
class Redriven:
    queue: str
    ids: list[str]
    runs_requeued: list[str]  # runs put back to PENDING (those a worker had not started yet)


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def run_id_of(letter: DeadLetter) -> str | None:
    """The run a dead letter belongs to: Celery's task id, which is also the message id."""
    value = letter.headers.get("id") or letter.properties.get("message_id")
    return str(value) if value else None


class DeadLetterService:
    def __init__(self, app: BeatkeeperCelery, box: DeadLetterBox | None = None) -> None:
        self.app = app
        self.store = app.store
        settings = app.settings
        self.box = box or DeadLetterBox(
            settings.broker.url,
            connect_timeout=settings.broker.connect_timeout,
            ssl=settings.broker.ssl_options,
            publisher=lambda: ConfirmingPublisher(
                settings.broker.url, retry=settings.publish_retry, ssl=settings.broker.ssl_options
            ),
        )

    def _work_queue(self, queue: str) -> QueueSpec:
        try:
            spec: QueueSpec = self.app.topology.work_queue(queue)
        except KeyError as exc:
            raise UnknownDeadLetterQueue(
                str(exc.args[0]).replace("queue", "work queue", 1)
            ) from None
        return spec

    def _broker(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Broker errors as this service's errors, so front ends map them once."""
        try:
            return call(*args, **kwargs)
        except DeadLetterQueueMissing as exc:
            raise DeadLettersUnavailable(f"{exc}; run `python -m broker declare`") from exc
        except BrokerUnavailable as exc:
            raise DeadLettersUnavailable(str(exc)) from exc
        except QueueTooLong as exc:
            raise DeadLetterQueueTooLong(str(exc)) from exc

    def _view(self, letter: DeadLetter, with_history: bool = False) -> LetterView:
        run_id = run_id_of(letter)
        run = self.store.get(run_id, with_history=with_history) if run_id else None
        if run is not None and run.state in ("PENDING", "RETRY"):
            # RabbitMQ dead-lettered it (expired, delivery_limit) with no worker to say so:
            # the run would wait forever, or be reaped as "lost". Its letter says why.
            where = f" in {letter.source_queue}" if letter.source_queue else ""
            why = f"dead-lettered by the broker: {letter.reason}{where}"
            if self.store.mark_dead_lettered(run.id, why, utcnow()):
                run = self.store.get(run.id, with_history=with_history)
        job = letter.headers.get("task")
        return LetterView(
            id=letter.key,
            run_id=run_id,
            job=str(job) if job else (run.job if run else None),
            reason=letter.reason,
            source_queue=letter.source_queue,
            died_at=letter.died_at,
            death_count=letter.death_count,
            run=run,
            letter=letter,
        )

    # -- reads ------------------------------------------------------------------------
    def queue(self, queue: str) -> QueueView:
        spec = self._work_queue(queue)
        assert spec.dead_letter_queue is not None
        count = self._broker(self.box.count, spec.dead_letter_queue)
        return QueueView(spec.short_name, spec.name, spec.dead_letter_queue, count)

    def queues(self) -> list[QueueView]:
        return [self.queue(spec.short_name) for spec in self.app.topology.work_queues]

    def list(self, queue: str, limit: int = 100) -> Listing:
        """The first ``limit`` dead letters of ``queue``, oldest first, with their runs."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidSelection("limit", f"limit must be between 1 and {MAX_LIST}")
        view = self.queue(queue)
        letters = self._broker(self.box.peek, view.dead_letter_queue, limit)
        return Listing(view, [self._view(letter) for letter in letters])

    def show(self, queue: str, message_id: str) -> LetterView:
        """One dead letter with its headers, body, x-death and its run's attempts."""
        view = self.queue(queue)
        try:
            letter = self._broker(self.box.find, view.dead_letter_queue, message_id, SCAN_LIMIT)
        except MessagesNotFound:
            raise UnknownDeadLetter(
                f"no message {message_id!r} in {view.dead_letter_queue!r}", [message_id]
            ) from None
        return self._view(letter, with_history=True)

    # -- actions ----------------------------------------------------------------------
    def redrive(self, queue: str, ids: Sequence[str] | None) -> Redriven:
        """Publish the dead letters ``ids`` (all if None) to their work queue, then ack them.

        All or nothing for named ids: one unknown id and nothing moves. Each run that no
        worker has started again yet goes back to PENDING.
        """
        spec = self._work_queue(queue)
        assert spec.dead_letter_queue is not None
        if ids is not None and not ids:
            raise InvalidSelection("ids", "name at least one message id, or re-drive all")
        runs: dict[str, RunRecord] = {}

        def rewrite(letter: DeadLetter) -> OutgoingMessage:
            extra: dict[str, Any] = {"expires": None}  # asked for again: run it, late or not
            run_id = run_id_of(letter)
            run = self.store.get(run_id, with_history=False) if run_id else None
            if run is not None:
                runs[letter.key] = run
                # An attempt is keyed by its retries header: one past the letter's own and
                # past every attempt recorded makes the re-driven execution a new attempt,
                # not a rewrite of the last, even when the store has not caught up with the
                # worker yet (its outbox writes in batches).
                retries = int(letter.headers.get("retries") or 0)
                extra["retries"] = max(retries + 1, run.attempts)
            return letter.outgoing(spec.exchange, spec.routing_key, set_headers=extra)

        try:
            moved = self._broker(self.box.move, spec.dead_letter_queue, rewrite, ids, SCAN_LIMIT)
        except MessagesNotFound as exc:
            raise UnknownDeadLetter(
                f"not in {spec.dead_letter_queue!r}: {', '.join(sorted(exc.keys))}; "
                "nothing was re-driven",
                sorted(exc.keys),
            ) from None
        requeued = []
        now = utcnow()
        for letter in moved:
            run = runs.get(letter.key)
            if run is not None and self.store.mark_redriven(run.id, run.state, run.attempts, now):
                requeued.append(run.id)
        return Redriven(spec.short_name, [letter.key for letter in moved], requeued)

    def purge(self, queue: str, confirm: bool) -> int:
        """Delete every message of ``queue``'s dead-letter queue; needs ``confirm``."""
        spec = self._work_queue(queue)
        assert spec.dead_letter_queue is not None
        if not confirm:
            raise ConfirmationRequired(
                f"purging {spec.dead_letter_queue!r} deletes its messages for good; confirm it"
            )
        count: int = self._broker(self.box.purge, spec.dead_letter_queue)
        return count
