"""The schedule form: strict parsing of its strings into a ScheduleDefinition.

Bad JSON or a non-integer is an error named after its field, as in the API; every other
rule is the shared ``validate()``, so one submit lists every error and nothing is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.schedules.definition import ScheduleDefinition, ScheduleError, validate

WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]+$")
DEFAULTS: dict[str, Any] = {
    k: f.default for k, f in ScheduleDefinition.__dataclass_fields__.items()
}
INT_FIELDS = ("expires_seconds", "jitter_seconds", "catch_up_window_seconds", "grace_seconds")
TRIGGER_FIELD = {"cron": "cron", "interval": "interval_seconds", "once": "run_at"}
LOCAL_INPUT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> sends
FORM_ORDER = (
    "name",
    "job",
    "kwargs",
    "queue",
    "trigger",
    "cron",
    "interval",
    "interval_seconds",
    "run_at",
    "timezone",
    "expires_seconds",
    "jitter_seconds",
    "catch_up",
    "catch_up_window_seconds",
    "overlap",
    "grace_seconds",
    "changed_by",
    "reason",
)
Errors = list[dict[str, str]]
ErrorsIn = Sequence[Mapping[str, str]]


# -- parsing --------------------------------------------------------------------------------
@dataclass
class ParsedForm:
    """Definition fields from a form; ``failed`` fields hold a placeholder and have an error."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: Errors = field(default_factory=list)
    failed: set[str] = field(default_factory=set)
    by: str = "ui"
    reason: str | None = None

    def bad(self, name: str, message: str) -> None:
        self.errors.append({"field": name, "message": message})
        self.failed.add(name)


def zone_of(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class SkippedTimeError(ValueError):
    """A wall time that a daylight-saving jump skips."""


def parse_local_time(raw: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 with an offset is taken as is; without one it is wall time in ``zone``.

    Raises ValueError for text that is not a time, or a wall time the clocks skip.
    """
    value = datetime.fromisoformat(raw)
    if value.tzinfo is not None:
        return value
    local = value.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise SkippedTimeError(f"{raw} does not exist in {zone.key} (the clocks skip it)")
    return local


def parse_who(form: Mapping[str, str], parsed: ParsedForm) -> None:
    parsed.by = form.get("changed_by", "").strip() or "ui"
    parsed.reason = form.get("reason", "").strip() or None
    if len(parsed.by) > 200:
        parsed.bad("changed_by", "at most 200 characters")
    if parsed.reason is not None and len(parsed.reason) > 2000:
        parsed.bad("reason", "at most 2000 characters")


def parse_schedule_form(form: Mapping[str, str]) -> ParsedForm:
    """The form's strings as definition fields (all but ``name``); only the chosen trigger's
    own field is read, the other two are cleared."""
    parsed = ParsedForm()
    values = parsed.values

    def text(name: str) -> str:
        return form.get(name, "").strip()

    trigger = text("trigger")
    timezone = text("timezone") or "UTC"
    zone = zone_of(timezone)
    if zone is None:
        parsed.bad("timezone", f"unknown IANA time zone {timezone!r}")
    values.update(
        job=text("job"),
        trigger=trigger,
        timezone=timezone if zone is not None else "UTC",
        cron=None,
        interval_seconds=None,
        run_at=None,
        queue=text("queue") or None,
        catch_up=text("catch_up") or DEFAULTS["catch_up"],
        overlap=text("overlap") or DEFAULTS["overlap"],
    )
    if trigger == "cron":
        values["cron"] = text("cron") or None
    elif trigger == "interval":
        values["interval_seconds"] = _parse_int(
            parsed, "interval_seconds", text("interval_seconds")
        )
    elif trigger == "once" and text("run_at"):
        try:
            values["run_at"] = parse_local_time(text("run_at"), zone or ZoneInfo("UTC"))
        except SkippedTimeError as exc:
            parsed.bad("run_at", str(exc))
        except ValueError:
            parsed.bad("run_at", "not a date and time")
    for name in INT_FIELDS:
        values[name] = _parse_int(parsed, name, text(name))
    values["kwargs"] = _parse_kwargs(parsed, text("kwargs"))
    parse_who(form, parsed)
    return parsed


def _parse_int(parsed: ParsedForm, name: str, raw: str) -> int | None:
    if raw == "":
        default: int | None = DEFAULTS.get(name)
        return default
    if not WHOLE_NUMBER.match(raw):
        parsed.bad(name, "must be a whole number")
        return DEFAULTS.get(name)
    return int(raw)


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not allowed in JSON")


def _parse_kwargs(parsed: ParsedForm, raw: str) -> dict[str, Any]:
    try:
        kwargs = json.loads(raw or "{}", parse_constant=_reject_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        parsed.bad("kwargs", f"not valid JSON: {exc}")
        return {}
    if not isinstance(kwargs, dict):
        parsed.bad("kwargs", 'must be a JSON object, e.g. {"hours": 2}')
        return {}
    return kwargs


def other_errors(definition: ScheduleDefinition, parsed: ParsedForm, m: Any) -> Errors:
    """The manager's verdict on everything that did parse, so one submit shows every error.

    Pure validation: nothing is stored. ``m`` is the ScheduleManager."""
    try:
        validate(definition, m.app.registry, list(m.app.settings.broker.queues), m.clock())
    except ScheduleError as exc:
        return [
            e
            for e in exc.errors
            if e["field"] not in parsed.failed
            and not ("kwargs" in parsed.failed and e["field"].startswith("kwargs."))
        ]
    return []


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


def in_form_order(errors: ErrorsIn) -> ErrorsIn:
    """Errors in the order their fields appear on the form (``kwargs.x`` under ``kwargs``)."""

    def position(error: Mapping[str, str]) -> int:
        name = error["field"].split(".")[0]
        return FORM_ORDER.index(name) if name in FORM_ORDER else len(FORM_ORDER)

    return sorted(errors, key=position)
