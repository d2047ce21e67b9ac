"""Validating a schedule definition: every rule, every error named after its field.

Integer fields are checked against a table of bounds, the enumerations against their
StrEnums; then the trigger is built (never from a value out of bounds, so nothing overflows)
and the rules that tie fields together are applied. All errors are reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.registry import ArgumentsError, JobRegistry, UnknownJobError
from jobs.schedules.definition import ScheduleDefinition, ScheduleError, build_trigger
from jobs.schedules.jitter import shortest_gap
from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind, one_of
from jobs.schedules.triggers import CronTrigger, Trigger, TriggerError, phase_anchor

# fullmatch: "$" would also match before a trailing newline.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}")
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

    if not NAME.fullmatch(definition.name):
        bad("name", "1-200 characters: letters, digits and _ . : @ - (not first)")
    kwargs = _arguments(definition, registry, errors)
    errors += _out_of_range(definition)
    run_at = definition.run_at
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


def _out_of_range(definition: ScheduleDefinition) -> list[dict[str, str]]:
    """The table's bounds, the years a one-off time may fall in, and the enumerations."""
    errors = []
    for bound in BOUNDS:
        message = bound.check(getattr(definition, bound.field))
        if message is not None:
            errors.append({"field": bound.field, "message": message})
    first_year, last_year = RUN_AT_YEARS
    run_at = definition.run_at
    if run_at is not None and not first_year <= run_at.year <= last_year:
        errors.append(
            {"field": "run_at", "message": f"year must be between {first_year} and {last_year}"}
        )
    for name, kind in CHOICES[1:]:  # the trigger kind is the trigger's own check
        if getattr(definition, name) not in tuple(kind):
            errors.append({"field": name, "message": f"one of {one_of(kind)}"})
    return errors


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
