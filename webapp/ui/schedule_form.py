"""The schedule form: its strings into a ScheduleInput, and a stored schedule into its strings.

The form's own rules only: the chosen trigger's field is read and the other two cleared, a
blank box means the field's default, and the edit form never sends a name. Parsing and
validation are the schedule domain's (``jobs/schedules/inputs.py``), as for the API and CLI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jobs.errors import FieldError, Invalid
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.inputs import CHANGE_NOTE, NULLABLE, TRIGGER_FIELD, ScheduleInput
from jobs.schedules.preview import Grid, TriggerPreview, preview
from jobs.store.schedules import ScheduleRecord

DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(ScheduleDefinition)}
LOCAL_INPUT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> sends
# The form's fields, top to bottom (errors are listed in this order). Not on the form:
# args, priority and enabled (pause and resume have their own buttons).
FORM_ORDER = (
    "name",
    "job",
    "kwargs",
    "queue",
    "trigger",
    "cron",
    "interval",
    "interval_seconds",
    "anchor",
    "run_at",
    "timezone",
    "expires_seconds",
    "jitter_seconds",
    "catch_up",
    "catch_up_window_seconds",
    "overlap",
    "grace_seconds",
    *CHANGE_NOTE,
)
ON_FORM = tuple(f for f in FORM_ORDER if f in ScheduleInput.model_fields)
# A blank box means the field's default (an optional field's default is "none").
BLANK_MEANS = {
    "kwargs": "{}",
    **{
        name: str(DEFAULTS[name])
        for name in ON_FORM
        if name not in NULLABLE and DEFAULTS.get(name, MISSING) is not MISSING
    },
}
Errors = list[FieldError]
ErrorsIn = Sequence[FieldError]


def form_input(form: Mapping[str, str], *, new: bool) -> ScheduleInput:
    """What the form says, read by the shared input model."""
    raw: dict[str, Any] = {name: form.get(name, "").strip() for name in ON_FORM}
    if not new:
        del raw["name"]  # the edit form has no name box; the URL names the schedule
    for name, default in BLANK_MEANS.items():
        raw[name] = raw[name] or default
    # Only the chosen trigger's box is read: the hidden ones may hold anything.
    chosen = TRIGGER_FIELD.get(raw["trigger"])
    for name in TRIGGER_FIELD.values():
        if name != chosen:
            raw[name] = None
    if chosen != "interval_seconds":
        raw["anchor"] = None  # the interval's phase box is hidden for the other triggers
    return ScheduleInput.read(raw)


def form_of(record: ScheduleRecord) -> dict[str, str]:
    """The edit form, prefilled from the stored schedule (run_at as wall time in its zone)."""
    definition = record.definition()
    values = {name: getattr(definition, name) for name in ON_FORM if name in DEFAULTS}
    if record.run_at is not None:
        local = record.run_at.astimezone(ZoneInfo(record.timezone))
        values["run_at"] = local.strftime(LOCAL_INPUT)
    values["kwargs"] = json.dumps(record.kwargs, indent=2)
    del values["name"]
    return {k: "" if v is None else str(v) for k, v in values.items()}


NEW_FORM = {"trigger": "cron", "kwargs": "{}", **BLANK_MEANS}


def parse_instant(form: Mapping[str, str], name: str, errors: Errors) -> datetime | None:
    raw = form.get(name, "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        errors.append(
            {
                "field": name,
                "message": "give an ISO 8601 time with an offset, e.g. 2026-12-01T09:00Z",
            }
        )
        return None
    return value


def change_note(form: Mapping[str, str]) -> ScheduleInput:
    """Who makes a pause, resume or delete and why, read like the form's own fields."""
    return ScheduleInput.read({name: form.get(name, "") for name in CHANGE_NOTE})


def in_form_order(errors: ErrorsIn) -> ErrorsIn:
    """Errors in the order their fields appear on the form (``kwargs.x`` under ``kwargs``)."""

    def position(error: Mapping[str, str]) -> int:
        name = error["field"].split(".")[0]
        return FORM_ORDER.index(name) if name in FORM_ORDER else len(FORM_ORDER)

    return sorted(errors, key=position)


def form_preview(
    form: Mapping[str, str], now: datetime, grid: Grid | None = None
) -> TriggerPreview | Errors | None:
    """The trigger the form describes, previewed (the page without JavaScript shows it after
    a submit; ``schedule_form.js`` asks /schedules/new/preview as the person types). None
    while the chosen trigger's own box is blank."""
    trigger = form.get("trigger") or "cron"
    box = next((field for kind, field in TRIGGER_FIELD.items() if kind == trigger), "cron")
    if not form.get(box, "").strip():
        return None
    try:
        return preview(form, now, grid=grid)
    except Invalid as exc:
        return exc.errors
