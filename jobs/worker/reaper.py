"""The reaper: every worker periodically resolves runs left with no live owner.

Added to the worker as a Celery bootstep (the documented seam for a worker's own services).
Several workers reaping at once is harmless: every statement is conditional on the stale
state, so a run is resolved once. See ``jobs.store.reaping`` for the rules.

It also re-sends a RETRY run whose retry message is overdue (stranded in the broker's
delayed-delivery queues) as its next attempt, published with confirms. The message is
numbered one past the overdue one (``retries``), so should the original still turn up, a
newer attempt owns the run and the worker's start check acks it without running it; it
uses one of the job's retries. A held fire still PENDING past its release is re-sent the same
way, once. A run re-sent ``BEATKEEPER_RETRY_RESENDS_MAX`` times in a row without starting is
dead-lettered with that reason (its message in its DLQ) instead of being re-sent forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from celery import bootsteps

from broker.names import REASON_HEADER
from broker.publisher import ConfirmingPublisher, OutgoingMessage, PublishError
from jobs.messages import task_message
from jobs.store.reaping import (
    OverdueRetry,
    claim_dead_letter,
    claim_resend,
    overdue_retries,
    reap_started,
    reap_waiting,
    vanished_reason,
)
from jobs.store.runs import utcnow
from jobs.store.schedules import ScheduleStore
from jobs.worker.outbox import store_unavailable

log = logging.getLogger(__name__)

# Runs resolved, by rule, for a later metrics endpoint.
REAPED: Counter[str] = Counter()
# Overdue retries re-sent per pass, at most.
RESEND_BATCH = 500
# Beyond the hard limit: the worker that kills an attempt needs a moment to say so.
MARGIN = 30.0


def hard_limits(app: Any) -> dict[str, float]:
    """Per job, how long after its start an attempt can still be alive (hard limit)."""
    limits: dict[str, float] = {}
    for name, task in app.tasks.items():
        limit = getattr(task, "time_limit", None)
        if getattr(task, "policy", None) is not None and limit:
            limits[name] = float(limit) + MARGIN
    return limits


def reap_once(app: Any) -> dict[str, int]:
    """One pass over the store; returns how many runs each rule resolved."""
    at = utcnow()
    settings = app.settings.worker
    limits = hard_limits(app)
    default = float(app.settings.default_policy.time_limit) * 2 + MARGIN
    found = {"started": 0, "waiting": 0}
    with app.store.engine.begin() as conn:
        for job, limit in limits.items():
            found["started"] += reap_started(conn, job, limit, at)
        # Jobs this worker does not know (removed, or served by other workers): the most
        # generous of the limits it knows, and never less than twice the default.
        found["started"] += reap_started(conn, None, max([default, *limits.values()]), at)
        found["waiting"] += reap_waiting(conn, settings.reap_pending_after, at)
    for rule, count in found.items():
        if count:
            REAPED[rule] += count
            log.warning("reaper: resolved %d %s runs with no live owner", count, rule)
    return found


def resend_message(app: Any, run: OverdueRetry) -> OutgoingMessage:
    """The run's message again: same id, job, arguments and schedule headers; ``retries``
    one past the overdue message's (the attempts made so far), so it is a newer attempt."""
    headers: dict[str, Any] = {"retries": run.attempts + 1}
    if run.schedule is not None:
        headers["beatkeeper_schedule"] = run.schedule
        if run.scheduled_for is not None:
            headers["beatkeeper_scheduled_for"] = run.scheduled_for.isoformat()
    queue = next(q for q in app.topology.work_queues if q.name == run.queue)
    return task_message(
        app,
        task_id=run.id,
        name=run.job,
        kwargs=run.kwargs,
        args=run.args,
        queue=queue,
        headers=headers,
    )


def dead_letter_message(app: Any, run: OverdueRetry) -> OutgoingMessage:
    """The run's message, for its queue's DLQ, with the reason in its header."""
    message = resend_message(app, run)
    return replace(
        message,
        exchange=app.topology.dead_letter_exchange.name,
        headers={**message.headers, REASON_HEADER: vanished_reason(run.resends)},
    )


def resend_overdue(
    app: Any, publish: Callable[[Sequence[OutgoingMessage]], None], at: Any = None
) -> list[str]:
    """Re-send RETRY runs overdue past ``BEATKEEPER_RETRY_OVERDUE_SECONDS``; returns the
    ids the broker confirmed. One not confirmed stays RETRY, due again one grace later. One
    re-sent ``BEATKEEPER_RETRY_RESENDS_MAX`` times in a row already is dead-lettered instead
    (its message goes to its DLQ, and its id is not returned)."""
    at = at or utcnow()
    after = float(app.settings.worker.retry_overdue)
    most = int(app.settings.worker.retry_resends_max)
    queues = {q.name for q in app.topology.work_queues}
    engine = app.store.engine
    with engine.connect() as conn:
        found = overdue_retries(conn, after, at, RESEND_BATCH)
    claimed, given_up = [], []
    for run in found:
        if run.queue not in queues:
            log.error("reaper: run %s is overdue on unknown queue %s", run.id, run.queue)
            continue
        with engine.begin() as conn:
            if run.resends >= most:
                if claim_dead_letter(conn, run, after, at):
                    given_up.append(run)
            elif claim_resend(conn, run, after, at):
                claimed.append(run)
    if given_up:
        _dead_letter(app, publish, given_up)
    if not claimed:
        return []
    failed: dict[str, str] = {}
    try:
        publish([resend_message(app, run) for run in claimed])
    except PublishError as exc:
        failed = exc.failed
    for run_id, why in failed.items():
        log.error("reaper: overdue retry of run %s not re-sent (%s)", run_id, why)
    sent = [run.id for run in claimed if run.id not in failed]
    if sent:
        REAPED["retry_resent"] += len(sent)
        log.warning("reaper: re-sent %d runs whose retry or held fire was overdue", len(sent))
    return sent


def _dead_letter(
    app: Any, publish: Callable[[Sequence[OutgoingMessage]], None], runs: list[OverdueRetry]
) -> None:
    REAPED["dead_lettered"] += len(runs)
    log.error(
        "reaper: dead-lettered %d runs whose re-sent message vanished %d times: %s",
        len(runs), runs[0].resends, ", ".join(r.id for r in runs[:20]),
    )  # fmt: skip
    try:
        publish([dead_letter_message(app, run) for run in runs])
    except PublishError as exc:
        # The run says it is dead-lettered, and why; only its DLQ entry (to re-drive it
        # from there) is missing.
        log.error("reaper: %d dead-lettered runs not put in their DLQ: %s", len(exc.failed), exc)


def trim_once(app: Any) -> dict[str, int]:
    """Keep history bounded: finished runs past BEATKEEPER_RUN_RETENTION_DAYS and runtime
    tombstones past BEATKEEPER_TOMBSTONE_RETENTION_DAYS are deleted."""
    at = utcnow()
    settings = app.settings
    runs = app.store.delete_finished_before(at - timedelta(days=settings.run_retention_days))
    store = ScheduleStore(app.store.engine)
    cutoff = at - timedelta(days=settings.tombstone_retention_days)
    trimmed = {"runs": runs, "tombstones": store.purge_tombstones(cutoff)}
    if any(trimmed.values()):
        log.info("reaper: trimmed %(runs)d old runs and %(tombstones)d tombstones", trimmed)
    return trimmed


class Reaper(bootsteps.StartStopStep):
    """Runs :func:`reap_once` every ``BEATKEEPER_REAP_INTERVAL`` seconds in a thread."""

    label = "Beatkeeper reaper"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._publisher: ConfirmingPublisher | None = None

    def start(self, worker: Any) -> None:
        app = worker.app
        self._thread = threading.Thread(
            target=self._loop, args=(app,), name="beatkeeper-reaper", daemon=True
        )
        self._thread.start()

    def stop(self, worker: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._publisher is not None:
            self._publisher.close()

    def _publish(self, app: Any, messages: Sequence[OutgoingMessage]) -> None:
        if self._publisher is None:  # owned by the reaper thread only
            settings = app.settings
            self._publisher = ConfirmingPublisher(
                settings.broker.url,
                retry=settings.publish_retry,
                connect_timeout=settings.broker.connect_timeout,
                ssl=settings.broker.ssl_options,
            )
        self._publisher.publish(messages)

    def _loop(self, app: Any) -> None:
        interval = float(app.settings.worker.reap_interval)
        trim_every = float(app.settings.worker.trim_interval)
        trimmed_at = time.monotonic() - trim_every  # the first pass trims too
        while not self._stop.wait(interval):
            try:
                reap_once(app)
                resend_overdue(app, lambda messages: self._publish(app, messages))
                if time.monotonic() - trimmed_at >= trim_every:
                    trim_once(app)
                    trimmed_at = time.monotonic()
            except Exception as exc:
                if store_unavailable(exc):
                    log.info("reaper: run store unavailable, next pass in %.0f s", interval)
                else:
                    log.exception("reaper pass failed")
