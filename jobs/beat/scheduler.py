"""``DatabaseScheduler``: Celery beat on Beatkeeper's schedule store (the default here).

It extends Celery through its documented seam, a ``celery.beat.Scheduler`` subclass
overriding ``setup_schedule``, ``tick``, ``sync`` and ``close``; leadership and outages are
handled by :class:`jobs.beat.runner.BeatRunner`, the fires by
:class:`jobs.beat.engine.BeatEngine`.

Stopping: SIGTERM and SIGINT raise ``SystemExit`` in the beat's loop (Celery's own handler
would first call ``close()`` from inside the signal handler, which builds the scheduler
again when the signal arrives during start-up), except inside a record-and-send transaction,
where the stop waits for the commit. Celery's loop then calls ``close()``, which releases
the lease, so a standby takes over at once (or, when the store is locked, leaves it to expire).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from celery.beat import Scheduler
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from broker.policies import PublishRetryPolicy
from broker.publisher import ConfirmingPublisher
from jobs.beat.engine import BeatConfig, BeatEngine, utcnow
from jobs.beat.runner import Backoff, BeatRunner, RunnerConfig
from jobs.beat.sync import sync_code_schedules
from jobs.store import make_engine as make_db_engine
from jobs.store.fires import Guard
from jobs.store.lease import LeaseStore
from jobs.store.schedules import ScheduleStore

log = logging.getLogger(__name__)

SQLITE_BUSY_MS = 1000


def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")


class GracefulStop:
    """SIGTERM/SIGINT raise SystemExit, but never inside a critical section."""

    def __init__(self) -> None:
        self.requested = False
        self._depth = 0

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # an embedded beat (worker -B): its host process handles signals
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self._depth == 0:
            raise SystemExit()

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self.requested and self._depth == 0:
            raise SystemExit()


class DatabaseScheduler(Scheduler):
    """Schedules live in SQL, are edited at runtime, and fire on time at any count."""

    runner: BeatRunner | None = None
    publisher: ConfirmingPublisher | None = None

    def setup_schedule(self) -> None:
        """Cheap on purpose: the lease, the schedules and the broker are reached by ticks,
        which ride out outages; a stop during start-up finds nothing half-built."""
        app = self.app
        self._stop = GracefulStop()
        self._stop.install()
        # The beat's own engine: on SQLite it waits 1 s for the write lock, not the 10 s the
        # others wait, so that a lock held by another process is an outage it backs off
        # from. A SIGTERM is served within 2 s even then: SQLite's wait cannot be interrupted
        # (up to 1 s), the lease's release waits at most RELEASE_WAIT, then the process exits.
        self._db = make_db_engine(app.settings.database_url)
        if self._db.dialect.name == "sqlite":
            event.listen(self._db, "connect", _short_busy_timeout)
        store = ScheduleStore(self._db)
        # No publish retries here: the runner backs off, and the beat must not hold the
        # database's write lock through a long outage.
        self.publisher = ConfirmingPublisher(
            app.settings.broker.url,
            retry=PublishRetryPolicy(max_retries=0),
            confirm_timeout=5.0,
            connect_timeout=app.settings.broker.connect_timeout,
            ssl=app.settings.broker.ssl_options,
        )
        publisher = self.publisher
        beat = app.settings.beat
        config = BeatConfig(
            lookahead=beat.lookahead,
            max_lookahead=beat.max_lookahead,
            poll_interval=beat.poll_interval,
            max_batch=beat.max_batch,
        )
        synced = [False]

        def make_engine(guard: Guard) -> BeatEngine:
            if not synced[0]:
                sync_code_schedules(app, store, utcnow())
                synced[0] = True
            engine = BeatEngine(app, store, publisher.publish, config=config, guard=guard)
            engine.critical = self._stop.deferred
            return engine

        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.runner = BeatRunner(
            make_engine,
            LeaseStore(self._db),
            owner,
            publisher.ensure_connected,
            config=RunnerConfig.for_lease(beat.lease_ttl, Backoff(cap=beat.backoff_cap)),
        )
        log.info("beat %s starting; it leads once it holds the lease", owner)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        assert self.runner is not None
        return self.runner.tick()

    def sync(self) -> None:
        """Nothing to flush: every fire is committed when it is sent."""

    def close(self) -> None:
        if self.runner is not None:
            try:
                self.runner.stop()
            except SQLAlchemyError:
                log.warning("beat: lease not released; it expires by itself", exc_info=True)
        if self.publisher is not None:
            self.publisher.close()
        if getattr(self, "_db", None) is not None:
            self._db.dispose()

    @property
    def info(self) -> str:
        url = self.app.store.engine.url.render_as_string(hide_password=True)
        return f"    . schedules -> {url} (Beatkeeper DatabaseScheduler, leader lease)"
