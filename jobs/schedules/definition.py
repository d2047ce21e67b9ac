"""What a schedule is, and the pure rules derived from it (its validation is in
``validation.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from jobs.errors import Invalid
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind, one_of
from jobs.schedules.triggers import (
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
    TriggerError,
)

# The old tuple spellings, kept for callers that iterate them.
TRIGGERS = tuple(TriggerKind)
CATCH_UP = tuple(CatchUp)
OVERLAP = tuple(Overlap)
RUN_NAMESPACE = uuid.UUID("6f1c1d1e-5b0a-4c55-9e8e-6b6561746b70")


class ScheduleError(Invalid):
    """Invalid schedule input; ``errors`` names every offending field."""

    @property
    def detail(self) -> str:
        return f"invalid schedule: {self}"


@dataclass(frozen=True)
class ScheduleDefinition:
    """Everything a person chooses about a schedule (the rest is bookkeeping)."""

    name: str
    job: str
    trigger: TriggerKind
    cron: str | None = None
    interval_seconds: int | None = None
    run_at: datetime | None = None
    timezone: str = "UTC"
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    expires_seconds: int | None = None
    jitter_seconds: int = 0
    catch_up: CatchUp = CatchUp.SKIP
    catch_up_window_seconds: int = 3600
    overlap: Overlap = Overlap.ALLOW
    enabled: bool = True
    grace_seconds: int | None = None  # None: the default (jobs/schedules/health.py)
    # An interval's phase: fires at anchor + k * interval. None: keep the stored grid, or
    # start it when saved. Validation replaces it by the grid point it stores (phase_anchor).
    anchor: datetime | None = None


@lru_cache(maxsize=16384)
def build_trigger(
    kind: str,
    *,
    cron: str | None,
    interval_seconds: int | None,
    run_at: datetime | None,
    timezone: str,
    anchor: datetime,
) -> Trigger:
    """The trigger for stored or submitted values; raises TriggerError naming the field.

    Triggers are immutable, so equal inputs share one (cached: thousands of schedules
    often share one cron expression, and parsing it on every fire adds up).
    """
    if kind == "cron":
        if not cron:
            raise TriggerError("cron", "a cron trigger needs a cron expression")
        return CronTrigger.parse(cron, timezone)
    if kind == "interval":
        if interval_seconds is None:
            raise TriggerError("interval_seconds", "an interval trigger needs interval_seconds")
        if interval_seconds < 1:
            raise TriggerError(
                "interval_seconds", f"must be at least 1 second, got {interval_seconds}"
            )
        return IntervalTrigger(interval_seconds, anchor)
    if kind == "once":
        if run_at is None:
            raise TriggerError("run_at", "a one-off trigger needs run_at")
        if run_at.tzinfo is None:
            raise TriggerError("run_at", "give run_at with a UTC offset, e.g. 2026-12-01T09:00:00Z")
        return OnceTrigger(run_at)
    raise TriggerError("trigger", f"unknown trigger {kind!r}; one of {one_of(TriggerKind)}")


def fire_time(name: str, nominal: datetime, jitter_seconds: int) -> datetime:
    """When a nominal fire is actually sent: a stable per-schedule offset spreads load."""
    return nominal + timedelta(seconds=jitter_offset(name, jitter_seconds))


def next_nominal(
    trigger: Trigger, name: str, jitter_seconds: int, now: datetime
) -> datetime | None:
    """The first nominal fire still to be sent after ``now``, i.e. whose fire time
    (nominal + the schedule's jitter offset) is later than ``now``.

    A nominal fire at or before ``now`` whose jittered send time is still ahead is kept, so an
    edit made inside the jitter window does not drop that fire.
    """
    start = now - timedelta(seconds=jitter_offset(name, jitter_seconds))
    if isinstance(trigger, IntervalTrigger) and trigger.anchor > start:
        # A grid that starts now (a new or re-timed interval) first fires one interval
        # later, with or without jitter; the anchor itself is not a fire to keep.
        start = trigger.anchor
    return trigger.next_after(start)


def period(trigger: Trigger, nominal: datetime) -> timedelta | None:
    following = trigger.next_after(nominal)
    return None if following is None else following - nominal


def expires_at(
    trigger: Trigger, nominal: datetime, fire_at: datetime, expires_seconds: int | None
) -> datetime | None:
    """A fire no worker picked up before this is dropped (default: the schedule's period)."""
    if expires_seconds is not None:
        return fire_at + timedelta(seconds=expires_seconds)
    step = period(trigger, nominal)
    return None if step is None else fire_at + step


def run_id(schedule: str, nominal: datetime, generation: int | str) -> str:
    """The run id of one fire: the same inputs always give the same id, so a fire is sent
    at most once under it. ``generation`` is the schedule's version (or ``backfill``)."""
    return str(uuid.uuid5(RUN_NAMESPACE, f"{schedule}@{nominal.isoformat()}#{generation}"))
