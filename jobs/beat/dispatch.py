"""Turning planned fires into messages for the app's queues, and sending them.

The engine plans with plain values; this is where a plan meets the Celery app (its jobs,
queues, hold exchange and time limits) and the sink (the confirming publisher).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta

from broker.names import HOLD_SHARD_HEADER
from broker.publisher import RETRYABLE, OutgoingMessage, PublishError
from jobs.beat.planning import PlannedFire
from jobs.celery_app import BeatkeeperCelery
from jobs.messages import DUE_AT_HEADER, EXPIRY_HEADER, task_message
from jobs.store.runs import NewRun
from jobs.store.schedules import ScheduleRecord
from jobs.tasks import HARD_LIMIT_GRACE

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[OutgoingMessage]], None]


class BrokerDownError(RuntimeError):
    """The broker took none of a batch; its fires were put back."""


class Dispatcher:
    """Resolves schedules against ``app`` and sends messages through ``sink``."""

    def __init__(self, app: BeatkeeperCelery, sink: Sink) -> None:
        self.app = app
        self.sink = sink
        self._queues = {q.name: q for q in app.topology.work_queues}
        self._shards = itertools.cycle(range(len(app.topology.hold_queues)))

    def hard_limit(self, job: str) -> timedelta | None:
        task = self.app.tasks.get(job)
        if task is None:
            return None
        return timedelta(seconds=task.policy.time_limit + HARD_LIMIT_GRACE + 60)

    def queue_of(self, row: ScheduleRecord) -> str:
        if row.job not in self.app.tasks:
            raise KeyError(f"unknown job {row.job!r}")
        if row.queue:
            return str(self.app.topology.work_queue(row.queue).name)
        return str(self.app.tasks[row.job].job_queue)

    def message(self, fire: PlannedFire) -> OutgoingMessage:
        run = fire.run
        assert run.schedule is not None and run.scheduled_for is not None
        message = task_message(
            self.app,
            task_id=run.id,
            name=run.job,
            kwargs=run.kwargs,
            queue=self._queues[run.queue],
            priority=fire.priority,
            expires=fire.expires,
            headers={
                "beatkeeper_schedule": run.schedule,
                "beatkeeper_scheduled_for": run.scheduled_for.isoformat(),
            },
        )
        if fire.hold:
            message = replace(
                message,
                exchange=self.app.topology.hold_exchange.name,
                headers={
                    **message.headers,
                    HOLD_SHARD_HEADER: next(self._shards),
                    # The worker stretches a default expiry by how late the broker released
                    # the fire (jobs.worker.expiry); a schedule's own expiry stays as it is.
                    DUE_AT_HEADER: fire.at.isoformat(),
                    EXPIRY_HEADER: "schedule" if fire.own_expiry else "period",
                },
                deliver_at=fire.at.timestamp(),
            )
        return message

    def send_batch(
        self, messages: dict[str, OutgoingMessage]
    ) -> Callable[[Sequence[NewRun]], set[str]]:
        def send(runs: Sequence[NewRun]) -> set[str]:
            try:
                self.sink([messages[r.id] for r in runs])
            except PublishError as exc:
                if len(exc.failed) < len(runs):
                    # The confirmed ones are with the broker: keep them. Give back only the
                    # refused ones, so that they are sent again and nothing twice.
                    log.error("beat: %d fires refused by the broker, retrying", len(exc.failed))
                    return set(exc.failed)
                raise BrokerDownError(f"the broker took none of {len(runs)} fires") from exc
            except RETRYABLE as exc:
                raise BrokerDownError(f"broker unreachable: {exc}") from exc
            return set()

        return send
