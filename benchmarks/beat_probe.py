"""Thin scheduler subclasses for ``benchmarks/beat.py``: they only report when they are ready.

Each writes ``BENCH <event> <epoch seconds>`` lines to stderr: ``setup-start`` and
``setup-done`` around ``setup_schedule`` and ``ticking`` once the first tick returned, so
the benchmark measures start-up without DEBUG logging. Nothing else is changed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from celery.beat import PersistentScheduler

from jobs.beat.scheduler import DatabaseScheduler


def mark(event: str) -> None:
    # The original stderr: Celery redirects sys.stderr into its logger.
    stream = sys.__stderr__ or sys.stderr
    stream.write(f"BENCH {event} {time.time():.6f}\n")
    stream.flush()


class _Probe:
    """Mixin: marks set-up and the first tick."""

    _ticked = False

    def _ready(self) -> bool:
        return True

    def setup_schedule(self) -> None:
        mark("setup-start")
        super().setup_schedule()  # type: ignore[misc]  # celery.beat is untyped (Any base)
        mark("setup-done")

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval: float = super().tick(*args, **kwargs)  # type: ignore[misc]  # untyped base
        if not self._ticked and self._ready():
            self._ticked = True
            mark("ticking")
        return interval


class ReadyDatabaseScheduler(_Probe, DatabaseScheduler):
    """Beatkeeper's scheduler, unchanged apart from the marks."""

    def _ready(self) -> bool:
        # Ticking means leading with the schedules loaded: the first ticks take the lease.
        runner = self.runner
        return runner is not None and runner.engine is not None and runner.engine.loaded


class ReadyPersistentScheduler(_Probe, PersistentScheduler):
    """Celery's default scheduler, unchanged apart from the marks."""
