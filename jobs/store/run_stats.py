"""Numbers for the charts: recent runs' lateness and duration, failure rate per hour.

Each read is bounded (the newest ``limit`` runs; one indexed count per bucket), so a chart
costs the same however long the history is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from jobs.store.tables import runs

FAILED = ("FAILURE", "EXPIRED")
COUNTED = ("SUCCESS", *FAILED)


@dataclass(frozen=True)
class Point:
    """One finished run: when it was due (or enqueued), how late it started, how long it ran."""

    at: datetime
    state: str
    lateness_ms: float | None
    runtime_ms: float | None

    @property
    def failed(self) -> bool:
        return self.state in FAILED


@dataclass(frozen=True)
class Bucket:
    start: datetime
    succeeded: int
    failed: int

    @property
    def runs(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.runs if self.runs else None


def recent_points(
    engine: Engine, *, job: str | None = None, schedule: str | None = None, limit: int = 200
) -> list[Point]:
    """The newest ``limit`` finished runs of a job or schedule, oldest first."""
    when = func.coalesce(runs.c.scheduled_for, runs.c.enqueued_at)
    query = (
        select(
            runs.c.enqueued_at,
            runs.c.scheduled_for,
            runs.c.started_at,
            runs.c.state,
            runs.c.runtime_ms,
        )
        .where(runs.c.state.in_(COUNTED))
        .order_by(when.desc())
        .limit(limit)
    )
    if job is not None:
        query = query.where(runs.c.job == job)
    if schedule is not None:
        query = query.where(runs.c.schedule == schedule)
    points = []
    with engine.connect() as conn:
        for enqueued, scheduled, started, state, runtime in conn.execute(query):
            lateness = None
            if scheduled is not None and started is not None:
                lateness = (started - scheduled).total_seconds() * 1000
            points.append(Point(scheduled or enqueued, state, lateness, runtime))
    return points[::-1]


def failure_buckets(
    engine: Engine, job: str, end: datetime, count: int = 24, width: timedelta = timedelta(hours=1)
) -> list[Bucket]:
    """Succeeded and failed (or expired) runs of ``job`` per bucket of enqueue time, the last
    ``count`` buckets of ``width`` up to ``end``, oldest first."""
    first = end - count * width
    out = []
    with engine.connect() as conn:
        for i in range(count):
            start = first + i * width
            query = (
                select(runs.c.state, func.count())
                .where(
                    runs.c.job == job,
                    runs.c.enqueued_at >= start,
                    runs.c.enqueued_at < start + width,
                    runs.c.state.in_(COUNTED),
                )
                .group_by(runs.c.state)
            )
            by_state = {state: int(n) for state, n in conn.execute(query)}
            failed = sum(by_state.get(s, 0) for s in FAILED)
            out.append(Bucket(start, by_state.get("SUCCESS", 0), failed))
    return out
