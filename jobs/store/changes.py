"""The change feed's reads: runs enqueued, attempts started or finished, runs closed, and
schedules changed, since a time (indexes from migration 0007 keep each read small)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Engine, func, literal, select

from jobs.store.tables import run_attempts, runs, scheduler_state, schedules

# (kind, run id, attempt number or 0): what the feed remembers to deliver a change once.
ChangeKey: TypeAlias = tuple[str, str, int]


@dataclass(frozen=True)
class RunChange:
    """One thing that happened to a run."""

    kind: str  # enqueued | started | finished (an attempt) | closed (the run reached a state)
    run_id: str
    job: str
    queue: str
    state: str  # the run's state when read
    at: datetime
    number: int = 0  # the attempt, for started/finished
    schedule: str | None = None
    outcome: str | None = None  # an attempt's outcome, or the state a run closed in
    worker: str | None = None
    queue_wait: float | None = None  # seconds from enqueue to start, first attempt only
    lateness: float | None = None  # seconds from the scheduled time to start, first attempt
    runtime: float | None = None  # seconds, finished attempts
    error: str | None = None  # the head of a finished attempt's error (its exception first)
    dead_lettered: bool = False

    @property
    def key(self) -> ChangeKey:
        return (self.kind, self.run_id, self.number)


@dataclass(frozen=True)
class ScheduleChange:
    name: str
    version: int


CLOSED = ("SUCCESS", "FAILURE", "SKIPPED", "CANCELLED", "EXPIRED")
MAX_IDS = 500  # run ids per IN list
ERROR_HEAD = 200  # characters of an attempt's error the feed reads: enough for the class name


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


class StoreChanges:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _kinds() -> list[tuple[str, Any, Any, Any]]:
        """(kind, key columns, time column, extra condition) of each kind of change."""
        run_key = (runs.c.id, literal(0))
        attempt_key = (run_attempts.c.run_id, run_attempts.c.number)
        return [
            ("enqueued", run_key, runs.c.enqueued_at, None),
            ("started", attempt_key, run_attempts.c.started_at, None),
            ("finished", attempt_key, run_attempts.c.finished_at, None),
            ("closed", run_key, runs.c.finished_at, runs.c.state.in_(CLOSED)),
        ]

    @staticmethod
    def _between(column: Any, since: datetime, until: datetime | None) -> list[Any]:
        return [column > since] + ([] if until is None else [column <= until])

    def run_change_keys(
        self,
        since: datetime,
        until: datetime | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[ChangeKey]:
        """The keys of the changes in (since, until]: no row is read beyond its key."""
        out: list[ChangeKey] = []
        with self.engine.connect() as conn:
            for kind, key, at, extra in self._kinds():
                if kinds is not None and kind not in kinds:
                    continue
                where = self._between(at, since, until) + ([] if extra is None else [extra])
                out += [(kind, i, int(n)) for i, n in conn.execute(select(*key).where(*where))]
        return out

    def run_change_counts(self, since: datetime, until: datetime) -> dict[str, int]:
        """How many changes of each kind carry a time in (since, until]: counted by the
        database, no row read."""
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for kind, key, at, extra in self._kinds():
                where = self._between(at, since, until) + ([] if extra is None else [extra])
                query = select(func.count()).select_from(key[0].table).where(*where)
                counts[kind] = int(conn.execute(query).scalar_one())
        return counts

    def run_changes(
        self, since: datetime, run_ids: Collection[str] | None = None
    ) -> list[RunChange]:
        """Changes since ``since`` (of ``run_ids`` only, when given), with their rows."""
        if run_ids is not None and len(run_ids) > MAX_IDS:
            listed = list(run_ids)
            return [
                change
                for start in range(0, len(listed), MAX_IDS)
                for change in self.run_changes(since, listed[start : start + MAX_IDS])
            ]
        out: list[RunChange] = []
        attempt_cols = (
            run_attempts.c.run_id,
            run_attempts.c.number,
            run_attempts.c.started_at,
            run_attempts.c.finished_at,
            run_attempts.c.outcome,
            run_attempts.c.worker,
            runs.c.job,
            runs.c.queue,
            runs.c.state,
            runs.c.schedule,
            runs.c.enqueued_at,
            runs.c.published_at,
            runs.c.scheduled_for,
        )
        joined = run_attempts.join(runs, runs.c.id == run_attempts.c.run_id)
        only = [] if run_ids is None else [runs.c.id.in_(list(run_ids))]
        with self.engine.connect() as conn:
            brief = select(
                runs.c.id, runs.c.job, runs.c.queue, runs.c.state, runs.c.schedule,
                runs.c.enqueued_at, runs.c.finished_at, runs.c.worker, runs.c.dead_lettered,
            ).where(*only)  # fmt: skip
            for r in conn.execute(brief.where(runs.c.enqueued_at > since)).mappings():
                out.append(
                    RunChange(
                        "enqueued", r["id"], r["job"], r["queue"], r["state"], r["enqueued_at"],
                        schedule=r["schedule"],
                    )
                )  # fmt: skip
            started = select(*attempt_cols).select_from(joined).where(*only)
            for r in conn.execute(started.where(run_attempts.c.started_at > since)).mappings():
                first = r["number"] == 1
                sent = r["published_at"] or r["enqueued_at"]
                out.append(
                    RunChange(
                        "started", r["run_id"], r["job"], r["queue"], r["state"], r["started_at"],
                        number=r["number"], schedule=r["schedule"], worker=r["worker"],
                        queue_wait=_seconds(r["started_at"], sent) if first else None,
                        lateness=_seconds(r["started_at"], r["scheduled_for"]) if first else None,
                    )
                )  # fmt: skip
            error = func.substr(run_attempts.c.error, 1, ERROR_HEAD).label("error")
            finished = started.add_columns(error).where(run_attempts.c.finished_at > since)
            for r in conn.execute(finished).mappings():
                out.append(
                    RunChange(
                        "finished", r["run_id"], r["job"], r["queue"], r["state"],
                        r["finished_at"], number=r["number"], schedule=r["schedule"],
                        outcome=r["outcome"], worker=r["worker"], error=r["error"],
                        runtime=_seconds(r["finished_at"], r["started_at"]),
                    )
                )  # fmt: skip
            closed = brief.where(runs.c.finished_at > since, runs.c.state.in_(CLOSED))
            for r in conn.execute(closed).mappings():
                out.append(
                    RunChange(
                        "closed", r["id"], r["job"], r["queue"], r["state"], r["finished_at"],
                        schedule=r["schedule"], outcome=r["state"], worker=r["worker"],
                        dead_lettered=bool(r["dead_lettered"]),
                    )
                )  # fmt: skip
        return out

    def schedule_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.coalesce(func.max(scheduler_state.c.value), 0)).where(
                    scheduler_state.c.key == "version"
                )
            ).scalar_one()
        return int(value)

    def schedule_changes(self, since_version: int) -> list[ScheduleChange]:
        query = select(schedules.c.name, schedules.c.version).where(
            schedules.c.version > since_version
        )
        with self.engine.connect() as conn:
            return [ScheduleChange(n, int(v)) for n, v in conn.execute(query)]
