"""One web process at a time counts the change feed into the store's metric totals, so every
process's /metrics shows the same counters and they survive restarts.

Rules (the store's half is jobs/store/metric_totals.py):
- Every web process follows the feed; only the holder of the ``metrics`` lease counts. The
  others try to take the lease every ``every`` seconds; it is free when its holder stopped
  (a graceful stop releases it) or did not renew it for ``ttl`` seconds.
- The leader adds each change's deltas (jobs/monitoring/families.py) in memory and flushes them
  every ``every`` seconds in one transaction fenced by its lease epoch; the flush renews the
  lease. A flush the store refuses (locked, down) keeps its deltas for the next one, which
  first asks the store whether the refused one landed after all (its commit may have been cut
  after the fact): nothing is added twice. A flush refused by the fence (another process took
  over) drops every delta held: the new leader counts them.
- A new leader counts the changes newer than the last flush's ``counted_through``: it reads
  the ones it missed (at most ``horizon`` seconds back) from the store, then the feed's. Keys
  are remembered for ``settle`` seconds after taking over so a change both read and delivered
  counts once. A change that reached a leader more than the feed's look-back late and that it
  had no time to flush before it stopped is the one thing a handover can miss.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from jobs.monitoring.families import companions, deltas_of
from jobs.store.changes import ChangeKey, RunChange, ScheduleChange
from jobs.store.lease import Fence
from jobs.store.metric_totals import Batch, MetricTotals, Series, label_key

log = logging.getLogger(__name__)
MAX_SERIES = 100_000  # remembered series names; beyond it the memo starts again


class MissedChanges(Protocol):
    def run_changes(self, since: datetime) -> list[RunChange]: ...


class SharedCounts:
    """A change-feed listener that counts into the store while this process leads."""

    def __init__(
        self,
        store: MetricTotals,
        changes: MissedChanges,
        owner: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ttl: float = 10.0,
        every: float = 1.0,
        horizon: float = 60.0,
        settle: float = 30.0,
    ) -> None:
        self.store = store
        self.changes = changes
        self.owner = owner
        self.clock = clock
        self.ttl = ttl
        self.every = every
        self.horizon = timedelta(seconds=horizon)
        self.settle = timedelta(seconds=settle)
        self.fence: Fence | None = None
        self.errors = 0
        self._lock = threading.Lock()
        self._after: datetime | None = None  # count only changes newer than this
        self._through: datetime | None = None  # the newest change counted
        self._keys: dict[ChangeKey, None] | None = None  # while settling after a takeover
        self._settled_at: datetime | None = None
        self._unsent: dict[Series, float] = {}
        # Series counted already: their companions' zero series are made once.
        self._made: set[Series] = set()
        self._names: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
        self._doubt: Batch | None = None  # a flush that raised: landed or not, the mark says
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- counting (the feed's thread) -----------------------------------------------------
    def __call__(self, runs: Sequence[RunChange], _: Sequence[ScheduleChange]) -> None:
        with self._lock:
            if self.fence is not None:
                self._count(runs)

    def _count(self, runs: Sequence[RunChange]) -> None:
        """Add ``runs`` to the unsent deltas; lock held."""
        for c in runs:
            if self._after is not None and c.at <= self._after:
                continue
            if self._keys is not None:
                if c.key in self._keys:
                    continue
                self._keys[c.key] = None
            for metric, labels, value in deltas_of(c):
                series = self._series(metric, labels)
                self._unsent[series] = self._unsent.get(series, 0.0) + value
                if series not in self._made:
                    self._made.add(series)
                    for other, other_labels, zero in companions(metric, labels):
                        made = self._series(other, other_labels)
                        self._unsent[made] = self._unsent.get(made, 0.0) + zero
            if self._through is None or c.at > self._through:
                self._through = c.at

    def _series(self, metric: str, labels: dict[str, str]) -> Series:
        """The row naming ``labels``, remembered: its JSON was most of the counting's cost."""
        key = (metric, tuple(labels.items()))
        found = self._names.get(key)
        if found is None:
            if len(self._names) >= MAX_SERIES:
                self._names.clear()
                self._made.clear()
            found = self._names[key] = (metric, label_key(labels))
        return found

    # -- leading (the counting thread) -------------------------------------------------------
    def step(self) -> None:
        """Once per ``every``: take the lease if free, or flush what was counted."""
        now = self.clock()
        if self.fence is None:
            self._lead(now)
        else:
            self._flush(now)

    def _lead(self, now: datetime) -> None:
        if self.store.lease.read().held(now):
            return  # a read, not a write lock every second while another process counts
        fence = self.store.lease.try_acquire(self.owner, now, self.ttl)
        if fence is None:
            return
        mark = self.store.mark()
        with self._lock:
            self.fence = fence
            self._seq = 0
            self._after = self._through = mark.counted_through
            self._keys, self._settled_at = {}, now + self.settle
            self._unsent, self._doubt, self._made = {}, None, set()
        since = now - self.horizon
        if mark.counted_through is not None and mark.counted_through > since:
            since = mark.counted_through
        log.info("counting metrics as %s (epoch %d) from %s", self.owner, fence.epoch, since)
        missed = self.changes.run_changes(since)
        with self._lock:
            self._count(missed)

    def _next_batch(self, fence: Fence) -> Batch:
        if self._doubt is not None:
            mark = self.store.mark()
            doubt, self._doubt = self._doubt, None
            if (mark.epoch, mark.seq) >= (fence.epoch, doubt.seq):
                self._seq = doubt.seq  # it landed: its deltas are in the totals
            else:
                with self._lock:
                    for series, value in doubt.deltas.items():
                        self._unsent[series] = self._unsent.get(series, 0.0) + value
        with self._lock:
            deltas, self._unsent = self._unsent, {}
            return Batch(self._seq + 1, deltas, self._through)

    def _flush(self, now: datetime) -> None:
        fence = self.fence
        assert fence is not None
        batch = self._next_batch(fence)
        try:
            held = self.store.flush(fence, batch, now, self.ttl)
        except Exception:
            self._doubt = batch
            raise
        if not held:
            log.warning("metrics lease lost by %s: another process counts now", self.owner)
            self._resign()
            return
        self._seq = batch.seq
        if self._settled_at is not None and now >= self._settled_at:
            with self._lock:
                self._keys = self._settled_at = None

    def _resign(self) -> None:
        with self._lock:
            self.fence = None
            self._unsent, self._doubt, self._keys = {}, None, None

    # -- the thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.step()
            except Exception:  # the store may be down: deltas are kept, try again
                self.errors += 1
                log.warning("counting metrics failed", exc_info=True)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="metrics-count", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flush once more and give the lease up, so another process counts at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        fence = self.fence
        if fence is None:
            return
        try:
            self._flush(self.clock())
            self.store.lease.release(fence, self.clock())
        except Exception:  # the lease then expires by itself; a stop never hangs on the store
            log.warning("last metrics flush failed", exc_info=True)
        self._resign()
