"""The enqueue path: validate, record the run, publish with confirms; batched.

Callers (API requests, UI form posts) hand a request to one background thread and
wait on a future. The thread takes everything that queued up while the previous
batch was in flight, publishes it with pipelined confirms, and records the runs the
broker confirmed in one transaction. Under load a
batch carries many requests for the price of one commit and one confirm round-trip;
at idle a batch is one request, so nothing waits for a timer.
"""

from __future__ import annotations

import logging
import queue as queue_mod
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broker.publisher import ConfirmingPublisher, PublishError
from broker.topology import QueueSpec
from jobs.celery_app import BeatkeeperCelery
from jobs.errors import Unavailable
from jobs.messages import task_message
from jobs.store.runs import NewRun, utcnow

log = logging.getLogger(__name__)


class EnqueueError(Unavailable):
    """The broker did not confirm the message; nothing was stored."""

    @property
    def detail(self) -> str:
        return f"not sent, nothing stored: {self}"


@dataclass
class _Request:
    run: NewRun
    priority: int | None
    chosen_id: bool = False
    # A run sent again under its id (a retry after it failed): not checked or inserted;
    # ``retries`` numbers its attempt after the ones already made.
    resend_retries: int | None = None
    future: Future[NewRun] = field(default_factory=Future)


class Enqueuer:
    """Owns one broker connection (in its thread) for all enqueues of a process."""

    def __init__(self, app: BeatkeeperCelery, *, max_batch: int = 500) -> None:
        self.app = app
        self.max_batch = max_batch
        self._queue: queue_mod.SimpleQueue[_Request | None] = queue_mod.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._publisher: ConfirmingPublisher | None = None

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="enqueuer", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    # -- API ----------------------------------------------------------------------
    def submit(
        self,
        job: str,
        kwargs: dict[str, Any],
        *,
        queue: str | None = None,
        priority: int | None = None,
        run_id: str | None = None,
        schedule: str | None = None,
        scheduled_for: datetime | None = None,
        origin: str | None = None,
    ) -> Future[NewRun]:
        """Queue an already-validated run; the future resolves once it is stored and confirmed.

        A ``run_id`` that was already used resolves at once without sending anything again.
        """
        self.start()
        task = self.app.tasks[job]
        run = NewRun(
            id=run_id or str(uuid.uuid4()),
            job=job,
            queue=queue or task.job_queue,
            kwargs=kwargs,
            schedule=schedule,
            scheduled_for=scheduled_for,
            origin=origin,
        )
        request = _Request(run, priority, chosen_id=run_id is not None)
        self._queue.put(request)
        return request.future

    def resend(self, run: NewRun, retries: int) -> Future[NewRun]:
        """Publish a stored run again under its own id, as retry number ``retries``; the
        future resolves once the broker confirmed (the caller updates the row)."""
        self.start()
        request = _Request(run, None, chosen_id=True, resend_retries=retries)
        self._queue.put(request)
        return request.future

    def enqueue(
        self, job: str, kwargs: dict[str, Any], timeout: float = 30.0, **options: Any
    ) -> NewRun:
        """Blocking form of :meth:`submit` for synchronous callers (Flask views, CLI).

        Raises EnqueueError when the broker refused the run or did not confirm it in time.
        """
        try:
            return self.submit(job, kwargs, **options).result(timeout)
        except TimeoutError:
            raise EnqueueError(f"the broker did not confirm within {timeout:g} s") from None

    # -- the thread ---------------------------------------------------------------
    def _publisher_for_thread(self) -> ConfirmingPublisher:
        if self._publisher is None:
            settings = self.app.settings
            self._publisher = ConfirmingPublisher(
                settings.broker.url,
                retry=settings.publish_retry,
                connect_timeout=settings.broker.connect_timeout,
                ssl=settings.broker.ssl_options,
            )
        return self._publisher

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue_mod.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._process(batch)
            except Exception as exc:  # the loop must survive anything one batch does
                log.exception("enqueue batch of %d failed", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(EnqueueError(str(exc)))
            if stop:
                break
        if self._publisher is not None:
            self._publisher.close()

    def _queue_spec(self, name: str) -> QueueSpec:
        for spec in self.app.topology.work_queues:
            if spec.name == name:
                return spec
        raise EnqueueError(f"queue {name!r} is not part of the topology")

    def _process(self, batch: list[_Request]) -> None:
        store = self.app.store
        batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
        chosen = [r.run.id for r in batch if r.chosen_id]
        used: set[str] = set()
        if chosen:
            with store.engine.connect() as conn:
                used = store.existing_ids(conn, chosen)
        unique: list[_Request] = []
        for request in batch:
            if request.resend_retries is not None:
                unique.append(request)
            elif request.run.id in used:  # a chosen id already sent: nothing to do again
                request.future.set_result(request.run)
            else:
                used.add(request.run.id)
                unique.append(request)
        if not unique:
            return
        messages = [
            task_message(
                self.app,
                task_id=r.run.id,
                name=r.run.job,
                kwargs=r.run.kwargs,
                queue=self._queue_spec(r.run.queue),
                priority=r.priority,
                headers=_headers(r),
            )
            for r in unique
        ]
        # Publish first, then record what the broker confirmed: a refused publish leaves
        # no row, and the database is never locked while waiting for the broker. A worker
        # that starts a job before its row is written creates the row; the insert below
        # then leaves that row as it is.
        failed: dict[str, str] = {}
        enqueued_at = utcnow()  # before the publish: a worker may start the job at once
        try:
            self._publisher_for_thread().publish(messages)
        except PublishError as exc:
            failed = exc.failed
        sent = [r.run for r in unique if r.run.id not in failed and r.resend_retries is None]
        if sent:
            try:
                with store.engine.begin() as conn:
                    store.insert_pending(conn, sent, enqueued_at, skip_existing=True)
            except Exception:
                # The messages are with the broker and will run; the worker records them.
                log.exception("%d runs published but not recorded at enqueue", len(sent))
        for request in unique:
            reason = failed.get(request.run.id)
            if reason:
                request.future.set_exception(EnqueueError(reason))
            else:
                request.future.set_result(request.run)


def _headers(request: _Request) -> dict[str, Any] | None:
    run = request.run
    headers: dict[str, Any] = {}
    if run.schedule is not None:
        headers["beatkeeper_schedule"] = run.schedule
        if run.scheduled_for is not None:
            headers["beatkeeper_scheduled_for"] = run.scheduled_for.isoformat()
    if request.resend_retries is not None:
        # The worker names an attempt by (retries, delivery): a higher ``retries`` than any
        # attempt so far makes this a new attempt, as a re-drive does.
        headers["retries"] = request.resend_retries
    return headers or None
