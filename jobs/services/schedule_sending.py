"""Sending runs of a schedule outside its timetable: run now, and backfill missed fires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import EnqueueError, Enqueuer
from jobs.schedules.definition import ScheduleError, run_id
from jobs.schedules.validation import RUN_AT_YEARS
from jobs.store.runs import NewRun
from jobs.store.schedules import ScheduleRecord, ScheduleStore
from jobs.store.tables import RunOrigin

MAX_BACKFILL = 1000


class BackfillStopped(EnqueueError):
    """The broker refused part of a backfill: the fires it confirmed stay sent."""

    @property
    def detail(self) -> str:
        return f"backfill stopped: {self}; fires already sent stay sent, run it again for the rest"


class ScheduleSending:
    """The sending half of the ScheduleManager (which sets these attributes)."""

    app: BeatkeeperCelery
    store: ScheduleStore
    enqueuer: Enqueuer | None
    clock: Callable[[], datetime]

    # -- sending ----------------------------------------------------------------------
    def _enqueuer(self) -> Enqueuer:
        if self.enqueuer is None:
            raise EnqueueError("this ScheduleManager has no enqueuer; it cannot send runs")
        return self.enqueuer

    def _queue(self, record: ScheduleRecord) -> str | None:
        return self.app.topology.work_queue(record.queue).name if record.queue else None

    def run_now(self, name: str) -> NewRun:
        """Send one run of the schedule's job now, outside its timetable."""
        record = self.store.get(name)
        now = self.clock()
        return self._enqueuer().enqueue(
            record.job,
            record.kwargs,
            queue=self._queue(record),
            schedule=record.name,
            scheduled_for=now,
            origin=RunOrigin.RUN_NOW,
        )

    def backfill(self, name: str, start: datetime, end: datetime) -> list[NewRun]:
        """Send every fire of the schedule in [start, end] that was never sent.

        Run ids derive from (schedule, fire time), so backfilling twice sends nothing new.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ScheduleError([{"field": "start", "message": "give times with a UTC offset"}])
        first_year, last_year = RUN_AT_YEARS  # the triggers' arithmetic stays inside datetime
        years = [
            {"field": field, "message": f"year must be between {first_year} and {last_year}"}
            for field, value in (("start", start), ("end", end))
            if not first_year <= value.year <= last_year
        ]
        if years:
            raise ScheduleError(years)
        if end < start:
            raise ScheduleError([{"field": "end", "message": "is before start"}])
        if end > self.clock():
            raise ScheduleError(
                [
                    {
                        "field": "end",
                        "message": "must not be in the future; the beat sends future fires",
                    }
                ]
            )
        record = self.store.get(name)
        trigger = record.build_trigger()
        fires: list[datetime] = []
        t = trigger.next_after(start - timedelta(microseconds=1))  # first fire at or after start
        while t is not None and t <= end:
            if len(fires) == MAX_BACKFILL:
                raise ScheduleError(
                    [{"field": "end", "message": f"more than {MAX_BACKFILL} fires in the range"}]
                )
            fires.append(t)
            t = trigger.next_after(t)
        done = self.store.fired_nominals(name, fires)
        futures = [
            self._enqueuer().submit(
                record.job,
                record.kwargs,
                queue=self._queue(record),
                run_id=run_id(name, t, "backfill"),
                schedule=name,
                scheduled_for=t,
                origin=RunOrigin.BACKFILL,
            )
            for t in fires
            if t not in done
        ]
        try:
            return [f.result(60) for f in futures]
        except (EnqueueError, TimeoutError) as exc:
            raise BackfillStopped(str(exc) or "the broker did not confirm in time") from exc
