"""``DatabaseScheduler``: Celery beat on Beatkeeper's schedule store (the default here).

It extends Celery through its documented seam, a ``celery.beat.Scheduler`` subclass
overriding ``setup_schedule``, ``tick``, ``sync`` and ``close``; the work is done by
:class:`jobs.beat.engine.BeatEngine`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import Scheduler

from broker.policies import PublishRetryPolicy
from broker.publisher import ConfirmingPublisher
from jobs.beat.engine import BeatConfig, BeatEngine, utcnow
from jobs.beat.sync import sync_code_schedules
from jobs.store.schedules import ScheduleStore

log = logging.getLogger(__name__)


class DatabaseScheduler(Scheduler):
    """Schedules live in SQL, are edited at runtime, and fire on time at any count."""

    engine: BeatEngine | None = None
    publisher: ConfirmingPublisher | None = None

    def setup_schedule(self) -> None:
        app = self.app
        store = ScheduleStore(app.store.engine)
        sync_code_schedules(app, store, utcnow())
        # No publish retries here: the engine keeps a failed fire and retries it at the next
        # tick, and must not hold the database's write lock through a long outage.
        self.publisher = ConfirmingPublisher(
            app.settings.broker.url,
            retry=PublishRetryPolicy(max_retries=0),
            confirm_timeout=5.0,
            connect_timeout=app.settings.broker.connect_timeout,
        )
        try:  # connect now, not during the first burst; a broker that is down is retried later
            self.publisher.ensure_connected()
        except Exception:
            log.warning("broker not reachable at beat start; fires will retry", exc_info=True)
        config = BeatConfig(**app.settings.beat.model_dump())
        self.engine = BeatEngine(app, store, self.publisher.publish, config=config)
        self.engine.start()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        assert self.engine is not None
        return self.engine.tick()

    def sync(self) -> None:
        """Nothing to flush: every fire is committed when it is sent."""

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()

    @property
    def info(self) -> str:
        url = self.app.store.engine.url.render_as_string(hide_password=True)
        return f"    . schedules -> {url} (Beatkeeper DatabaseScheduler)"
