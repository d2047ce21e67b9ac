"""The worker's outbox: run events reach the store even when the store is away.

A task appends its events to the process's local journal (durable before the message
is acknowledged, so a crash loses nothing) and returns; a writer thread commits what
arrived while its previous commit ran and while it lingered (:data:`LINGER`), in one
transaction per batch written as a set (``jobs.store.attempt_batch``), then drops it
from the journal. While the store refuses connections the writer backs off (capped)
and logs the outage once; the journal keeps growing and drains when the store returns.
Replaying an event twice is harmless (``jobs.store.attempts`` writes are idempotent).

Before an attempt starts, the worker reads the run (one primary-key read while it is
PENDING): a cancelled or finished run does not run, and a run whose attempt is still open
in a live process waits for it (``jobs.worker.owners``). A redelivery, or a run whose open
attempt's owner is dead, first drains the journals of processes that are gone (waiting for
another process already draining one): a killed worker's finish may be only there. The
start itself is journaled and
written with the next batch. When the store cannot answer, the attempt runs anyway (at
least once beats never). The writer thread also beats this process's heartbeat row.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from jobs.store.attempts import AttemptStarted, WorkerEvent
from jobs.store.runs import RunStore, utcnow
from jobs.worker.journal import SUFFIX, Journal, encode
from jobs.worker.owners import HEARTBEAT, Verdict, alive, decide, pid_alive, this_process

log = logging.getLogger(__name__)

BATCH = 500
BACKOFF_START, BACKOFF_CAP = 0.2, 10.0
# How long a redelivered message waits for this process's journal to drain before it starts.
REDELIVERY_FLUSH = 5.0
# How long a delivery waits for another process draining a dead owner's journal.
ADOPT_WAIT = 10.0
# How long the writer waits, once woken, for more events to join its batch (a flush does
# not wait), and how often it looks for journals of processes that are gone. Measured on
# SQLite (2 cores, no-op jobs against plain Celery): 0.05 s gave 0.56x, 0.2 s 0.83x, 1 s
# 1.28x; every commit also stalls the task thread for the GIL. 0.5 s bounds how late a
# run's state reaches the store. The writer lingers only while busy (events arrived while its
# last commit ran): a job finishing on an idle worker is written at once, so the live pages
# show it within tens of milliseconds instead of after the linger (benchmarks/live_e2e.py:
# 1.07 s p50 from a worker's finish to the SSE event with the linger at idle, 46 ms without).
LINGER = 0.5
ADOPT_EVERY = 30.0
# How often a delivery waiting for a live owner looks again.
OWNER_POLL = 0.25
# Heartbeat rows silent this long are deleted.
FORGET_AFTER = timedelta(hours=1)
# Counted for a later metrics endpoint: events written late, events the store refused.
COUNTS: Counter[str] = Counter()


def store_unavailable(exc: BaseException) -> bool:
    """A connection-level failure worth retrying later, not a bad event."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def default_directory(database_url: str, configured: str | None = None) -> Path:
    """``BEATKEEPER_OUTBOX_DIR``, else beside an SQLite database, else ``var/outbox``."""
    if configured:
        return Path(configured)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).parent / "outbox"
    return Path("var/outbox")


class Outbox:
    def __init__(self, store: RunStore, directory: Path) -> None:
        self.store = store
        self.directory = directory
        self.journal = Journal.create(directory)
        self.owner = this_process()
        self._beaten = 0.0
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a flush: no linger
        self._busy = False  # events arrived during the last commit: let the next batch gather
        self._idle = threading.Condition()
        self._stopping = False
        self._outage = False
        self._thread = threading.Thread(target=self._loop, name="beatkeeper-outbox", daemon=True)
        self._thread.start()

    # -- what tasks call ----------------------------------------------------------
    def start(self, event: AttemptStarted, redelivered: bool = False, wait: float = 0.0) -> bool:
        """Decide whether an attempt runs; False: it must not. Its start is journaled.

        A redelivery (an ack lost with a broker restart or a dropped connection) may be of a
        run this process finished and has not yet written: drain the journal first, so the
        store's answer includes that finish. A run still open in a live process waits for
        that owner up to ``wait`` seconds (then runs: never lost).
        """
        if redelivered and not self._outage and self.journal.pending():
            self.flush(REDELIVERY_FLUSH)
        event = replace(event, owner=self.owner)
        if not self._outage:
            try:
                if self._verdict(event, wait, redelivered) is Verdict.SKIP:
                    return False
            except Exception as exc:
                if not store_unavailable(exc):
                    log.exception("could not check the start of run %s", event.run.id)
                self._note_outage(exc)
        self.put(event)
        return True

    def _verdict(self, event: AttemptStarted, wait: float, redelivered: bool = False) -> Verdict:
        deadline = time.monotonic() + wait
        adopted = False
        while True:
            view = self.store.start_view(event.run.id)
            verdict = decide(view, event.key, self.owner, lambda a: alive(a, utcnow()))
            open_elsewhere = any(not a.finished and a.owner != self.owner for a in view.attempts)
            if verdict is Verdict.RUN and (open_elsewhere or redelivered) and not adopted:
                # A dead owner's journal may hold its finish (and a redelivery's run may have
                # its start and finish only there: the store shows no attempt at all): drain
                # the journals of processes that are gone, then look again. Another process
                # may be draining one at this moment (after a worker kill every redelivery
                # and every writer adopts at once): wait for it rather than look again
                # before its commit and run the job twice.
                adopted = True
                self._adopt_orphans(wait_for_gone=True)
                continue
            if verdict is not Verdict.WAIT:
                return verdict
            if time.monotonic() >= deadline:
                log.warning("run %s: its owner outlived the wait; running it", event.run.id)
                return Verdict.RUN
            time.sleep(OWNER_POLL)

    def put(self, event: WorkerEvent) -> None:
        self.journal.append(event)
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the journal is drained (tests, shutdown); False on timeout."""
        self._urgent.set()
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: self.journal.pending() == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self.journal.close()
        try:
            self.store.forget_owner(self.owner)
        except DBAPIError:
            log.info("could not remove the heartbeat of %s (it lapses)", self.owner)

    # -- the writer thread --------------------------------------------------------
    def _note_outage(self, exc: BaseException) -> None:
        if not self._outage:
            self._outage = True
            log.warning("run store unavailable, journaling run events locally: %s", exc)

    def _loop(self) -> None:
        delay = BACKOFF_START
        adopt_at = 0.0
        while not self._stopping:
            woken = self._wake.wait(delay if self._outage else 1.0)
            if woken and not self._outage and self._busy:
                # Let the events of the next few jobs join this batch: one commit for many,
                # and the task threads are not interrupted by a commit per event.
                self._urgent.wait(LINGER)
            self._wake.clear()
            self._urgent.clear()
            try:
                if time.monotonic() >= adopt_at:
                    self._adopt_orphans()
                    adopt_at = time.monotonic() + ADOPT_EVERY
                self._beat()
                self._busy = self._drain(self.journal) > 1  # more came while committing
            except Exception as exc:
                if not store_unavailable(exc):
                    log.exception("outbox writer failed; retrying")
                self._note_outage(exc)
                delay = min(BACKOFF_CAP, delay * 2)
                continue
            if self._outage:
                log.warning("run store back; journaled run events written")
                self._outage = False
            delay = BACKOFF_START
            with self._idle:
                self._idle.notify_all()

    def _beat(self) -> None:
        if time.monotonic() - self._beaten >= HEARTBEAT:
            at = utcnow()
            self.store.beat(self.owner, at, forget_before=at - FORGET_AFTER)
            self._beaten = time.monotonic()

    def _drain(self, journal: Journal) -> int:
        """Write the journal's events to the store; returns in how many batches."""
        batches = 0
        while batch := journal.read(BATCH):
            try:
                self.store.apply([event for _, event in batch])
            except Exception as exc:
                if store_unavailable(exc):
                    raise
                self._apply_one_by_one(batch)
            journal.delete_through(batch[-1][0])
            COUNTS["written"] += len(batch)
            batches += 1
        return batches

    def _apply_one_by_one(self, batch: list[tuple[int, WorkerEvent]]) -> None:
        """A batch the store refused: apply what it accepts; log and count the rest."""
        for seq, event in batch:
            try:
                self.store.apply([event])
            except Exception as exc:
                if store_unavailable(exc):
                    raise
                COUNTS["refused"] += 1
                log.exception("run event %d refused by the store, dropped: %s", seq, encode(event))

    def _adopt_orphans(self, wait_for_gone: bool = False) -> None:
        """Drain the journals of worker processes that are gone (killed, or recycled). With
        ``wait_for_gone``, a gone process's journal that another adopter holds is waited for
        (up to :data:`ADOPT_WAIT` s: when it lets go, what it drained is in the store)."""
        for path in self.directory.glob(f"*{SUFFIX}"):
            if path == self.journal.path:
                continue
            pid = Journal.pid_of(path)
            gone = pid is not None and not pid_alive(pid)
            orphan = Journal.adopt(path, wait=ADOPT_WAIT if wait_for_gone and gone else 0.0)
            if orphan is None:
                continue
            try:
                self._drain(orphan)
            finally:
                orphan.close()


_outboxes: weakref.WeakKeyDictionary[Any, tuple[int, Outbox]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def outbox_for(app: Any) -> Outbox:
    """This process's outbox for ``app`` (a forked pool child gets its own)."""
    with _lock:
        entry = _outboxes.get(app)
        if entry is None or entry[0] != os.getpid():
            settings = app.settings
            directory = default_directory(settings.database_url, settings.worker.outbox_dir)
            entry = (os.getpid(), Outbox(app.store, directory))
            _outboxes[app] = entry
        return entry[1]
