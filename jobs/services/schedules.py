"""Schedule management shared by the API, the UI and the CLI: validation, edits, run now,
backfill, and the numbers shown per schedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.monitoring.schedules import ScheduleStatus
from jobs.monitoring.schedules import statuses as schedule_statuses
from jobs.schedules.definition import (
    ScheduleDefinition,
    ScheduleError,
    next_nominal,
)
from jobs.schedules.health import held_ahead
from jobs.schedules.inputs import ScheduleInput, hide_repeats
from jobs.schedules.preview import FireTime
from jobs.schedules.triggers import Trigger
from jobs.schedules.validation import validate
from jobs.services.schedule_sending import BackfillStopped, ScheduleSending
from jobs.store.runs import RunRecord
from jobs.store.schedules import (
    ScheduleExistsError,
    ScheduleNotFoundError,
    ScheduleRecord,
    ScheduleStore,
)

__all__ = [
    "BackfillStopped",
    "ScheduleError",
    "ScheduleExistsError",
    "ScheduleManager",
    "ScheduleNotFoundError",
]


@dataclass(frozen=True)
class ScheduleDetail:
    schedule: ScheduleRecord
    upcoming: list[FireTime]
    runs: list[RunRecord]
    status: ScheduleStatus | None = None


class ScheduleManager(ScheduleSending):
    """Reads and edits schedules; sends runs of them through ScheduleSending."""

    def __init__(
        self,
        app: BeatkeeperCelery,
        enqueuer: Enqueuer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.store = ScheduleStore(app.store.engine)
        self.enqueuer = enqueuer
        self.clock = clock

    def _validate(
        self,
        definition: ScheduleDefinition,
        now: datetime,
        check_run_at: bool = True,
        current: ScheduleRecord | None = None,
    ) -> Any:
        """Validate; an edit that keeps ``current``'s interval grid keeps its anchor."""
        queues = list(self.app.settings.broker.queues)
        same_grid = current is not None and (definition.trigger, definition.interval_seconds) == (
            current.trigger,
            current.interval_seconds,
        )
        anchor = current.anchor if current is not None and same_grid else now
        return validate(
            definition,
            self.app.registry,
            queues,
            now,
            check_run_at=check_run_at,
            anchor=anchor,
        )

    @staticmethod
    def _next_fire(
        definition: ScheduleDefinition, trigger: Trigger, now: datetime
    ) -> datetime | None:
        """The first fire not yet due to be sent: one inside its jitter window is kept."""
        return next_nominal(trigger, definition.name, definition.jitter_seconds, now)

    # -- reads ------------------------------------------------------------------------
    def page(self, limit: int = 1000, offset: int = 0) -> list[ScheduleRecord]:
        return self.store.page(limit, offset)

    def get(self, name: str) -> ScheduleRecord:
        return self.store.get(name)

    def upcoming(
        self, record: ScheduleRecord, count: int = 10, held: Sequence[datetime] = ()
    ) -> list[FireTime]:
        """The next ``count`` fire times, in UTC and in the schedule's own timezone, as a
        person counts them: the fires the beat already handed to the broker ahead of their
        time (``held``: its cursor, ``next_fire_at``, has moved past them) come first."""
        if not record.enabled:
            return []
        zone = ZoneInfo(record.timezone)
        trigger = record.build_trigger()
        start = record.next_fire_at
        times = set(held)
        if start is not None:
            times |= {start, *trigger.upcoming(start, count - 1)}
        return [FireTime(t, t.astimezone(zone)) for t in sorted(times)[:count]]

    def detail(self, name: str, runs: int = 20) -> ScheduleDetail:
        record = self.store.get(name)
        history = self.app.store.list(schedule=name, limit=runs)
        status = self.statuses([record])[name]
        now = self.clock()
        held = [
            r.scheduled_for
            for r in history
            if r.scheduled_for is not None and held_ahead(r.state, r.scheduled_for, now)
        ]
        return ScheduleDetail(record, self.upcoming(record, held=held), history, status)

    def statuses(self, records: Sequence[ScheduleRecord]) -> dict[str, ScheduleStatus]:
        """Health and real counters per schedule (jobs/monitoring/schedules.py)."""
        return schedule_statuses(self.store.engine, records, self.clock())

    # -- edits ------------------------------------------------------------------------
    def _checked(
        self,
        given: ScheduleInput,
        now: datetime,
        current: ScheduleRecord | None = None,
        check_run_at: bool = True,
    ) -> tuple[ScheduleDefinition, Trigger]:
        """The input applied and validated; every error of every field, or none, raised."""
        draft, errors, failed = given.resolve(None if current is None else current.definition())
        try:
            definition, trigger = self._validate(draft, now, check_run_at, current)
        except ScheduleError as exc:
            errors += hide_repeats(exc.errors, failed)
        if errors:
            raise ScheduleError(errors)
        return definition, trigger

    def check(self, given: ScheduleInput, now: datetime) -> tuple[ScheduleDefinition, Trigger]:
        """A new schedule's input applied and validated, without writing (bulk import)."""
        return self._checked(given, now)

    def next_fire(
        self, definition: ScheduleDefinition, trigger: Trigger, now: datetime
    ) -> datetime | None:
        return self._next_fire(definition, trigger, now)

    def create(
        self,
        schedule: ScheduleDefinition | ScheduleInput,
        by: str,
        reason: str | None = None,
    ) -> ScheduleRecord:
        """Create a schedule from a definition (code, tests) or from what a person gave."""
        now = self.clock()
        if isinstance(schedule, ScheduleInput):
            definition, trigger = self._checked(schedule, now)
        else:
            definition, trigger = self._validate(schedule, now)
        next_fire = self._next_fire(definition, trigger, now)
        return self.store.create(
            definition,
            next_fire_at=next_fire,
            now=now,
            by=by,
            reason=reason,
            max_live=self.app.settings.max_schedules,
        )

    def update(
        self,
        name: str,
        changes: Mapping[str, Any] | ScheduleInput,
        by: str,
        reason: str | None = None,
    ) -> ScheduleRecord:
        """Apply ``changes`` (the given fields) to the current definition; all or nothing."""
        now = self.clock()
        record = self.store.get(name)
        given = changes if isinstance(changes, ScheduleInput) else ScheduleInput.read(changes)
        # A one-off schedule whose time has passed can still be edited (e.g. paused or
        # renamed job arguments); only a new run_at must lie in the future.
        moved = bool({"run_at", "trigger"} & set(given.given()))
        definition, trigger = self._checked(given, now, record, moved)
        next_fire = self._next_fire(definition, trigger, now)
        return self.store.update(definition, next_fire_at=next_fire, now=now, by=by, reason=reason)

    def reset(self, name: str, by: str) -> ScheduleRecord:
        """Make a schedule declared in code follow its code definition again."""
        declared = next((d for d in self.app.registry.schedules if d["name"] == name), None)
        if declared is None:
            raise ScheduleNotFoundError(f"schedule {name!r} is not declared in code")
        now = self.clock()
        try:
            current: ScheduleRecord | None = self.store.get(name)
        except ScheduleNotFoundError:
            current = None
        definition, trigger = self._validate(ScheduleDefinition(**declared), now, False, current)
        if current is None:
            return self.store.create(
                definition,
                next_fire_at=self._next_fire(definition, trigger, now),
                now=now,
                by=by,
                reason="reset to code",
                source="code",
            )
        definition = replace(definition, enabled=current.enabled)
        return self.store.update(
            definition,
            next_fire_at=self._next_fire(definition, trigger, now),
            now=now,
            by=by,
            reason="reset to code",
            runtime_edit=False,
            back_to_code=True,
        )

    def pause(self, name: str, by: str, reason: str | None = None) -> ScheduleRecord:
        return self.store.set_enabled(
            name, False, next_fire_at=None, now=self.clock(), by=by, reason=reason
        )

    def resume(self, name: str, by: str, reason: str | None = None) -> ScheduleRecord:
        """Resume from now: fires missed while paused are not caught up (a pause is deliberate)."""
        now = self.clock()
        record = self.store.get(name)
        next_fire = next_nominal(record.build_trigger(), record.name, record.jitter_seconds, now)
        return self.store.set_enabled(
            name, True, next_fire_at=next_fire, now=now, by=by, reason=reason
        )

    def delete(self, name: str, by: str, reason: str | None = None) -> None:
        self.store.delete(name, now=self.clock(), by=by, reason=reason)
