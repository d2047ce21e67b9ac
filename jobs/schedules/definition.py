"""What a schedule is, how it is validated, and the pure rules derived from it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.errors import Invalid
from jobs.registry import ArgumentsError, JobRegistry, UnknownJobError
from jobs.schedules.jitter import jitter_offset, shortest_gap
from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind, one_of
from jobs.schedules.triggers import (
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
    TriggerError,
    phase_anchor,
)

# The old tuple spellings, kept for callers that iterate them.
TRIGGERS = tuple(TriggerKind)
CATCH_UP = tuple(CatchUp)
OVERLAP = tuple(Overlap)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$")
RUN_NAMESPACE = uuid.UUID("6f1c1d1e-5b0a-4c55-9e8e-6b6561746b70")
# Upper bounds keep every stored value inside datetime and int32 arithmetic downstream.
MAX_INTERVAL_SECONDS = 315_360_000  # 10 years
MAX_EXPIRES_SECONDS = 31_622_400  # 366 days
MAX_JITTER_SECONDS = 86_400  # 1 day
MAX_CATCH_UP_WINDOW_SECONDS = 31_622_400  # 366 days
MAX_GRACE_SECONDS = 31_622_400  # 366 days
RUN_AT_YEARS = (1970, 9000)


@dataclass(frozen=True)
class Bound:
    """An integer field's allowed range; ``unit`` follows the numbers in the message."""

    field: str
    low: int
    high: int
    unit: str = ""

    def check(self, value: int | None) -> str | None:
        if value is None or self.low <= value <= self.high:
            return None
        return f"must be between {self.low} and {self.high}{self.unit}"


BOUNDS = (
    Bound("interval_seconds", 1, MAX_INTERVAL_SECONDS, " seconds (10 years)"),
    Bound("priority", 0, 9),
    Bound("expires_seconds", 1, MAX_EXPIRES_SECONDS, " seconds (366 days)"),
    Bound("jitter_seconds", 0, MAX_JITTER_SECONDS, " seconds (1 day)"),
    Bound("catch_up_window_seconds", 1, MAX_CATCH_UP_WINDOW_SECONDS, " seconds (366 days)"),
    Bound("grace_seconds", 0, MAX_GRACE_SECONDS, " seconds (366 days)"),
)
CHOICES: tuple[tuple[str, type[StrEnum]], ...] = (
    ("trigger", TriggerKind),
    ("catch_up", CatchUp),
    ("overlap", Overlap),
)


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
    grace_seconds: int | None = None  # None: the default (jobs/monitoring/health.py)
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


def validate(
    definition: ScheduleDefinition,
    registry: JobRegistry,
    queues: Sequence[str],
    now: datetime,
    *,
    check_run_at: bool = True,
    anchor: datetime | None = None,
) -> tuple[ScheduleDefinition, Trigger]:
    """Check every field; return the definition with JSON-ready kwargs, and its trigger.

    An interval trigger is anchored at ``anchor`` (default ``now``): pass the stored anchor
    when an edit keeps the schedule's grid.
    """
    errors: list[dict[str, str]] = []

    def bad(name: str, message: str) -> None:
        errors.append({"field": name, "message": message})

    if not NAME.match(definition.name):
        bad("name", "1-200 characters: letters, digits and _ . : @ - (not first)")
    kwargs = _arguments(definition, registry, errors)
    for bound in BOUNDS:
        message = bound.check(getattr(definition, bound.field))
        if message is not None:
            bad(bound.field, message)
    first_year, last_year = RUN_AT_YEARS
    run_at = definition.run_at
    if run_at is not None and not first_year <= run_at.year <= last_year:
        bad("run_at", f"year must be between {first_year} and {last_year}")
    for name, kind in CHOICES[1:]:  # the trigger kind is the trigger's own check
        if getattr(definition, name) not in tuple(kind):
            bad(name, f"one of {one_of(kind)}")
    if definition.queue is not None and definition.queue not in queues:
        bad("queue", f"unknown queue {definition.queue!r}; one of {', '.join(queues)}")
    chosen = _chosen_anchor(definition, now, errors)
    if chosen is not None:
        anchor = chosen
    trigger = _trigger(definition, now if anchor is None else anchor, errors)
    past = run_at is not None and run_at.tzinfo is not None and run_at <= now
    if trigger is not None and definition.trigger == "once" and check_run_at and past:
        bad("run_at", "is in the past")
    if {"interval_seconds", "jitter_seconds"}.isdisjoint(e["field"] for e in errors):
        too_long = _jitter_too_long(definition, trigger, now)
        if too_long is not None:
            bad("jitter_seconds", too_long)
    if errors or trigger is None:
        raise ScheduleError(errors)
    return replace(definition, args=[], kwargs=kwargs, anchor=chosen), trigger


def _chosen_anchor(
    definition: ScheduleDefinition, now: datetime, errors: list[dict[str, str]]
) -> datetime | None:
    """The grid point stored for a chosen anchor (see phase_anchor), or None."""
    chosen, interval = definition.anchor, definition.interval_seconds
    if chosen is None:
        return None
    first_year, last_year = RUN_AT_YEARS
    if definition.trigger != TriggerKind.INTERVAL:
        message = "only an interval schedule has an anchor (the phase of its grid)"
    elif chosen.tzinfo is None:
        message = "give the anchor with a UTC offset, e.g. 2026-12-01T09:00:00Z"
    elif not first_year <= chosen.year <= last_year:
        message = f"year must be between {first_year} and {last_year}"
    elif interval is None or not 1 <= interval <= MAX_INTERVAL_SECONDS:
        return None  # the interval's own error is reported
    else:
        return phase_anchor(chosen, interval, now)
    errors.append({"field": "anchor", "message": message})
    return None


def _jitter_too_long(
    definition: ScheduleDefinition, trigger: Trigger | None, now: datetime
) -> str | None:
    """Jitter must be shorter than the time between two fires, or a fire would go out
    after the next one is due."""
    jitter, interval = definition.jitter_seconds, definition.interval_seconds
    if definition.trigger == "interval" and interval and jitter >= interval:
        return f"must be less than interval_seconds ({interval})"
    if isinstance(trigger, CronTrigger) and jitter > 0:
        gap = shortest_gap(trigger, now)
        if gap is not None and jitter >= gap:
            return (
                f"must be less than the shortest time between two fires of this cron schedule "
                f"({gap} s), or every fire would go out after the next one is due"
            )
    return None


def _arguments(
    definition: ScheduleDefinition, registry: JobRegistry, errors: list[dict[str, str]]
) -> dict[str, Any]:
    """The job's arguments, JSON-ready; their errors are named ``kwargs.<parameter>``."""
    try:
        return registry.get(definition.job).validate(definition.args, definition.kwargs)
    except UnknownJobError as exc:
        errors.append({"field": "job", "message": str(exc)})
    except ArgumentsError as exc:
        errors.extend(
            {"field": f"kwargs.{e['field']}", "message": e["message"]} for e in exc.errors
        )
    return definition.kwargs


def _trigger(
    definition: ScheduleDefinition, anchor: datetime, errors: list[dict[str, str]]
) -> Trigger | None:
    """The definition's trigger, or None with its errors added; a value already out of
    bounds is never handed to a trigger (so none overflows), and an unknown zone is
    reported once while the rest of the trigger is still checked in UTC."""
    if {"interval_seconds", "run_at"} & {e["field"] for e in errors}:
        return None
    timezone = definition.timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append({"field": "timezone", "message": f"unknown IANA time zone {timezone!r}"})
        timezone = "UTC"
    try:
        return build_trigger(
            definition.trigger,
            cron=definition.cron,
            interval_seconds=definition.interval_seconds,
            run_at=definition.run_at,
            timezone=timezone,
            anchor=anchor,
        )
    except TriggerError as exc:
        errors.append({"field": exc.field, "message": exc.message})
        return None


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
