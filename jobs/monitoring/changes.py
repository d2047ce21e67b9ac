"""A change feed over the run store: what was enqueued, started and finished lately.

One thread per web process polls the store every ``interval`` seconds and hands each batch
of new changes to its listeners (the Prometheus metrics and the live pages). Rules:

- Each poll reads what happened after ``cursor - overlap``: a row committed a little later
  than the time it carries (a slow transaction, a worker's clock slightly behind) is still
  seen. A row committed more than ``overlap`` late is missed by the feed (never by the
  store): live pages then catch up at their next refresh.
- A change is delivered once: keys seen within the overlap window are remembered.
- A failing poll (database down) is logged and counted; the feed keeps polling.
- Schedule changes come from the schedules' change counter, as the beat reads them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from jobs.store.changes import RunChange, ScheduleChange

log = logging.getLogger(__name__)


class ChangeSource(Protocol):
    def run_changes(self, since: datetime) -> list[RunChange]: ...
    def schedule_version(self) -> int: ...
    def schedule_changes(self, since_version: int) -> list[ScheduleChange]: ...


Listener = Callable[[Sequence[RunChange], Sequence[ScheduleChange]], None]


class Deduplicator:
    """Remembers keys of changes newer than the overlap window; pure, clock passed in."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, int], datetime] = {}

    def fresh(self, changes: Sequence[RunChange], horizon: datetime) -> list[RunChange]:
        self.seen = {k: at for k, at in self.seen.items() if at >= horizon}
        out = []
        for change in changes:
            if change.key not in self.seen:
                self.seen[change.key] = change.at
                out.append(change)
        return out


class ChangeFeed:
    def __init__(
        self,
        source: ChangeSource,
        interval: float = 0.1,
        overlap: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.interval = interval
        self.overlap = timedelta(seconds=overlap)
        self.clock = clock
        self.listeners: list[Listener] = []
        self.cursor = clock()
        self.version: int | None = None
        self.dedupe = Deduplicator()
        self.errors = 0
        self.last_poll: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def poll(self) -> int:
        """Read once and notify the listeners; returns how many changes were new."""
        now = self.clock()
        since = self.cursor - self.overlap
        runs = self.dedupe.fresh(self.source.run_changes(since), since)
        schedules: list[ScheduleChange] = []
        if self.version is None:
            self.version = self.source.schedule_version()
        else:
            schedules = self.source.schedule_changes(self.version)
            self.version = max([self.version, *(c.version for c in schedules)])
        self.cursor = now
        self.last_poll = now
        if runs or schedules:
            for listener in self.listeners:
                try:
                    listener(runs, schedules)
                except Exception:  # a broken listener must not stop the others or the feed
                    log.exception("change listener %r failed", listener)
        return len(runs) + len(schedules)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll()
            except Exception:  # the database may be down; keep polling, say so once per poll
                self.errors += 1
                log.warning("change feed poll failed", exc_info=True)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
