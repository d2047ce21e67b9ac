"""The Celery task class every job runs as: retry policy and run history in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from celery.signals import task_revoked
from celery.worker.request import Request

from jobs.celery_app import BeatkeeperCelery
from jobs.policies import RetryPolicy
from jobs.registry import JobSpec
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome, RunExpired
from jobs.store.runs import NewRun, RunStore, utcnow
from jobs.worker import expiry
from jobs.worker.guard import delivery_count
from jobs.worker.outbox import Outbox, outbox_for

log = logging.getLogger(__name__)

# Seconds between the soft limit (raised inside the job, so the policy can retry it)
# and the hard limit (the pool kills the process).
HARD_LIMIT_GRACE = 10
# Seconds of its soft time limit a delivery keeps for itself after waiting for a live owner.
OWNER_WAIT_MARGIN = 2


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class NotRun(Ignore):
    """The run must not run (cancelled, or already finished): its message is acknowledged."""


class BeatkeeperRequest(Request):
    """Celery's request, with Beatkeeper's rules for expiry and hard time limits."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)  # ExceptionWithTraceback
        if isinstance(exc, NotRun):
            # Celery sends no final event for an ignored task, so Flower (and any event
            # consumer) would show it STARTED forever, with a Terminate button. Say what a
            # revoked task says: the message is acknowledged and the task will not run.
            self.send_event("task-revoked", terminated=False, signum=None, expired=False)
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def on_timeout(self, soft: bool, timeout: float) -> None:
        # Celery requeues a late-ack message whose task hit its hard time limit; for a job
        # whose policy dead-letters, that would rerun it up to the delivery limit. Reject
        # it without requeue instead, so RabbitMQ dead-letters it like any other failure.
        self._dead_letter = not soft
        super().on_timeout(soft, timeout)
        if not soft:  # the pool killed the attempt: no task hook will record its end
            self._record_hard_timeout(timeout)

    def _record_hard_timeout(self, timeout: float) -> None:
        task = self.task
        if not isinstance(task, BeatkeeperTask):
            return
        headers = self.request_dict
        event = AttemptFinished(
            task._run(self.id, self.args, self.kwargs),
            AttemptKey(int(headers.get("retries") or 0), delivery_count(headers)),
            Outcome.FAILURE,
            utcnow(),
            worker=self.hostname,
            error=f"TimeLimitExceeded: hard time limit ({timeout} s) exceeded",
            dead_lettered=task.policy.on_exhausted == "dead_letter",
        )
        task._record("hard time limit", lambda: task.outbox.put(event))

    def reject(self, requeue: bool = False) -> None:
        super().reject(requeue=requeue and not getattr(self, "_dead_letter", False))

    def maybe_expire(self) -> bool | None:
        """Expiry bounds when the first attempt may start, never the retries the job's
        policy asks for; a held fire released late by the broker gets its window back."""
        if int(self.request_dict.get("retries") or 0) > 0:
            return None
        expires = expiry.effective_expiry(self.expires, self.request_dict)
        if expires is None or datetime.now(UTC) <= expires:
            return None
        return bool(super().maybe_expire())


class BeatkeeperTask(Task):
    """Records every attempt through the worker's outbox; never lets a store error fail a job."""

    spec: JobSpec
    policy: RetryPolicy
    job_queue: str  # routed there by task_routes (the task-level `queue` is deprecated)
    typing = False  # arguments are validated by the job's pydantic model instead

    @property
    def store(self) -> RunStore:
        # Task.app is untyped (celery ships no hints); bind_job binds only BeatkeeperCelery apps.
        store: RunStore = self.app.store
        return store

    @property
    def outbox(self) -> Outbox:
        return outbox_for(self.app)

    def _run(self, task_id: str, args: Any, kwargs: Any) -> NewRun:
        return NewRun(task_id, self.name, self.job_queue, dict(kwargs or {}), list(args or ()))

    def _key(self) -> AttemptKey:
        headers = vars(self.request)
        return AttemptKey(int(self.request.retries or 0), delivery_count(headers))

    def _record(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception:
            log.exception("could not record %s of run %s (%s)", what, self.request.id, self.name)

    def _finish(self, task_id: str, args: Any, kwargs: Any, outcome: Outcome, **extra: Any) -> None:
        event = AttemptFinished(
            self._run(task_id, args, kwargs),
            self._key(),
            outcome,
            utcnow(),
            worker=self.request.hostname,
            **extra,
        )
        self._record(outcome.value.lower(), lambda: self.outbox.put(event))

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        event = AttemptStarted(
            self._run(task_id, args, kwargs), self._key(), self.request.hostname, utcnow()
        )

        redelivered = bool((self.request.delivery_info or {}).get("redelivered")) or (
            event.key.delivery > 0
        )

        # A run still open in a live process is waited for, but never past this attempt's
        # own soft time limit (the wait counts against it).
        wait = max(0.0, float(self.policy.time_limit) - OWNER_WAIT_MARGIN)

        def start() -> None:
            if not self.outbox.start(event, redelivered=redelivered, wait=wait):
                self.request.beatkeeper_cancelled = True

        self._record("start", start)

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        self._finish(task_id, args, kwargs, Outcome.SUCCESS, result=_jsonable(retval))

    def on_retry(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        retry_in = float(getattr(self.request, "beatkeeper_retry_in", 0) or 0)
        cause = getattr(exc, "exc", None) or exc
        self._finish(
            task_id, args, kwargs, Outcome.RETRY, error=_error_text(cause), retry_in=retry_in
        )

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        self._finish(
            task_id,
            args,
            kwargs,
            Outcome.FAILURE,
            error=_error_text(exc),
            traceback=str(einfo) if einfo else None,
            dead_lettered=self.policy.on_exhausted == "dead_letter",
        )


def bind_job(app: BeatkeeperCelery, spec: JobSpec, policy: RetryPolicy, queue: str) -> Task:
    """Create the Celery task that runs ``spec`` with ``policy`` on ``queue``."""

    def run(self: BeatkeeperTask, *args: Any, **kwargs: Any) -> Any:
        if getattr(self.request, "beatkeeper_cancelled", False):
            # Cancelled (its schedule changed after the fire was handed to the broker ahead of
            # time or by a bulk action) or a duplicate delivery of a run that already finished:
            # ack, don't run.
            raise NotRun()
        # Validation failures are bad messages, not transient faults: they are not retried.
        values = spec.validate(args, kwargs) if args else kwargs
        try:
            return spec.call(values)
        except Exception as exc:
            retries = int(self.request.retries or 0)
            if not policy.should_retry(exc, retries):
                raise
            delay = policy.delay(retries)
            self.request.beatkeeper_retry_in = delay
            # The retry carries no expiry: a schedule's expiry bounds when the first attempt
            # may start, never the retries its job's policy asks for.
            raise self.retry(
                exc=exc, countdown=delay, max_retries=policy.max_retries, expires=None
            ) from exc

    run.__name__ = spec.func.__name__
    run.__doc__ = spec.description
    return app.task(
        bind=True,
        shared=False,  # a task belongs to this app only, not to every app made later
        base=BeatkeeperTask,
        name=spec.name,
        job_queue=queue,
        spec=spec,
        policy=policy,
        max_retries=policy.max_retries,
        soft_time_limit=policy.time_limit,
        time_limit=policy.time_limit + HARD_LIMIT_GRACE,
        acks_late=True,
        reject_on_worker_lost=True,
        # Rejecting (not acking) a failed message makes RabbitMQ dead-letter it;
        # "discard" jobs ack it and keep the failure in the run history only.
        acks_on_failure_or_timeout=policy.on_exhausted == "discard",
        Request=BeatkeeperRequest,
    )(run)


@task_revoked.connect
def _record_expired(
    sender: Any = None, request: Any = None, expired: bool = False, **_: Any
) -> None:
    """A message that expired before a worker took it is recorded, not dropped silently."""
    if expired and isinstance(sender, BeatkeeperTask) and request is not None:
        run = sender._run(request.id, request.args, request.kwargs)
        event = RunExpired(run, utcnow())
        sender._record("expiry", lambda: sender.outbox.put(event))
