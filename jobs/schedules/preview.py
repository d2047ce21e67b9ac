"""What a trigger still being typed would do: a sentence, notes, and its next fire times.

The schedule form previews as the person types; only the trigger's own fields are read
(``trigger``, ``cron``, ``interval_seconds``, ``anchor``, ``run_at``, ``timezone``), by the
same input model that saves a schedule, so a preview and a save never disagree on a field.
An interval without an anchor is previewed as if saved now (its grid starts when saved),
unless it edits a stored interval of the same length: that keeps its grid, as a save does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobs.schedules.cron_describe import describe_trigger
from jobs.schedules.definition import ScheduleDefinition, ScheduleError, build_trigger
from jobs.schedules.errors import TriggerError
from jobs.schedules.inputs import ScheduleInput
from jobs.schedules.kinds import TriggerKind

TRIGGER_INPUTS = ("trigger", "cron", "interval_seconds", "anchor", "run_at", "timezone")
MAX_FIRES = 50
# What the preview starts from: a cron schedule in UTC, as the form does.
_BLANK = ScheduleDefinition(name="preview", job="preview", trigger=TriggerKind.CRON)


@dataclass(frozen=True)
class FireTime:
    """One fire: the instant, and the wall time in the schedule's own zone."""

    utc: datetime
    local: datetime


@dataclass(frozen=True)
class TriggerPreview:
    description: str
    notes: list[str]
    fires: list[FireTime]


@dataclass(frozen=True)
class Grid:
    """A stored interval schedule's grid: its length and a point on it."""

    every_seconds: int
    anchor: datetime


def preview(
    raw: Mapping[str, Any], now: datetime, count: int = 5, grid: Grid | None = None
) -> TriggerPreview:
    """The trigger that ``raw``'s trigger fields make, described, with its next ``count``
    fires after ``now`` (on ``grid`` when it edits an interval of that length); raises
    ScheduleError naming every field that does not fit."""
    if not 1 <= count <= MAX_FIRES:
        raise ScheduleError([{"field": "count", "message": f"must be 1 to {MAX_FIRES}"}])
    given = ScheduleInput.read(
        {name: raw[name] for name in TRIGGER_INPUTS if raw.get(name) not in (None, "")}
    )
    draft, errors, _ = given.resolve(_BLANK)
    if errors:
        raise ScheduleError(errors)
    anchor = draft.anchor or now
    if draft.anchor is None and grid is not None and grid.every_seconds == draft.interval_seconds:
        anchor = grid.anchor
    try:
        trigger = build_trigger(
            draft.trigger,
            cron=draft.cron,
            interval_seconds=draft.interval_seconds,
            run_at=draft.run_at,
            timezone=draft.timezone,
            anchor=anchor,
        )
    except TriggerError as exc:
        raise ScheduleError(exc.errors) from None
    description, notes = describe_trigger(trigger, now)
    zone = ZoneInfo(draft.timezone)
    fires = [FireTime(t, t.astimezone(zone)) for t in trigger.upcoming(now, count)]
    return TriggerPreview(description, notes, fires)
