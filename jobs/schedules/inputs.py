"""One schedule input, parsed once, for the API, the UI and the CLI.

:class:`ScheduleInput` holds the fields a person gave, for a new schedule or a partial edit.
It is tolerant where a form or a command line needs it, and strict about what it accepts:

- text is stripped and a blank is "not given" (``None``); numbers may come as text;
- ``kwargs`` (and ``args``) may be JSON text or the value itself; JSON text must hold an
  object (a list for ``args``), and NaN or Infinity are refused;
- ``timezone`` must be an IANA zone;
- ``run_at`` with a UTC offset is that instant. Without one it is wall time in the
  schedule's zone (the one given, else the schedule's current one, else UTC). A wall time
  that a daylight-saving jump skips (02:30 on a spring-forward night in New York) is
  refused. A wall time that occurs twice (01:30 on a fall-back night) is the FIRST of the
  two, as ``zoneinfo`` reads ``fold=0``: the instant before the clocks go back.

Nothing raises while reading: :meth:`ScheduleInput.read` keeps every field error, and
:meth:`ScheduleInput.resolve` applies what did parse to the current definition (or the
defaults), so the schedule service can still judge the rest and report every error at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import ErrorDetails

from jobs import jsontext
from jobs.errors import FieldError
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind

# Who changes a schedule and why: kept with the change, not part of the definition.
CHANGE_NOTE = ("changed_by", "reason")
# Who made a change is the front end's principal (webapp/auth); changed_by is only a note.
CHANGED_BY_NOTE = (
    "optional, kept as a note only: the audit log records who the credentials say made the "
    "change (a user, token:NAME, cli:USER), with this name beside it as '(claimed: ...)'"
)
# Each trigger kind's own field; the other two are cleared.
TRIGGER_FIELD = {
    TriggerKind.CRON: "cron",
    TriggerKind.INTERVAL: "interval_seconds",
    TriggerKind.ONCE: "run_at",
}
# A partial edit may clear these (set them to null); every other field needs a value.
NULLABLE = frozenset(f.name for f in fields(ScheduleDefinition) if f.default is None)
REQUIRED = tuple(
    f.name
    for f in fields(ScheduleDefinition)
    if f.default is MISSING and f.default_factory is MISSING
)


def _json_text(value: Any, kind: type, shape: str) -> Any:
    """JSON text to its value; any other value is left to the field's own type check."""
    if not isinstance(value, str):
        return jsontext.check_depth(value)
    parsed = jsontext.loads(value)  # a JSONTextError is a ValueError: the field's error
    if not isinstance(parsed, kind):
        raise ValueError(f"must be a JSON {shape}")
    return parsed


def wall_time(value: datetime, zone: ZoneInfo) -> datetime:
    """``value`` (naive) as wall time in ``zone``; ValueError if the clocks skip it."""
    local = value.replace(tzinfo=zone)  # fold=0: the first of a repeated wall time
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise ValueError(f"{value.isoformat()} does not exist in {zone.key} (the clocks skip it)")
    return local


class ScheduleInput(BaseModel):
    """The fields of a schedule as given; every one optional (a PATCH gives a few).

    Text fields carry the length of their column (``jobs/store/tables.py``), so an input
    that PostgreSQL would refuse is a field error here, on every database.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200, examples=["nightly-report"])
    job: str | None = Field(default=None, max_length=200)
    trigger: TriggerKind | None = None
    cron: str | None = Field(default=None, max_length=200, examples=["*/5 * * * *"])
    interval_seconds: int | None = None
    run_at: datetime | None = Field(
        default=None, description="ISO 8601; without a UTC offset, wall time in the timezone"
    )
    timezone: str | None = Field(default=None, max_length=64, examples=["Europe/Paris"])
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = Field(default=None, description="an object or its JSON text")
    queue: str | None = Field(default=None, max_length=200)
    priority: int | None = None
    expires_seconds: int | None = None
    jitter_seconds: int | None = None
    catch_up: CatchUp | None = None
    catch_up_window_seconds: int | None = None
    overlap: Overlap | None = None
    enabled: bool | None = None
    grace_seconds: int | None = Field(
        default=None, description="seconds past a due fire before it is late; null: default"
    )
    anchor: datetime | None = Field(
        default=None,
        description="interval schedules: a time on their grid (its phase), ISO 8601; without a "
        "UTC offset, wall time in the timezone. Null: keep the grid, or start it when saved",
    )
    changed_by: str | None = Field(default=None, max_length=200, description=CHANGED_BY_NOTE)
    reason: str | None = Field(default=None, max_length=2000)

    _errors: list[FieldError] = PrivateAttr(default_factory=list)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_not_given(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kwargs", mode="before")
    @classmethod
    def _kwargs_text(cls, value: Any) -> Any:
        return _json_text(value, dict, 'object, e.g. {"hours": 2}')

    @field_validator("args", mode="before")
    @classmethod
    def _args_text(cls, value: Any) -> Any:
        return _json_text(value, list, "array, e.g. [1, 2]")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    # -- reading ----------------------------------------------------------------------
    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> ScheduleInput:
        """Every field of ``raw`` that parses; the others are kept as :attr:`errors`."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = exc.errors()
        failed = {str(p["loc"][0]) for p in problems if p["loc"]}
        given = cls.model_validate({k: v for k, v in raw.items() if k not in failed})
        given._errors = [_field_error(p) for p in problems]
        return given

    def refuse(self, field: str, message: str) -> None:
        """Add an error a front end found itself (e.g. two triggers on one command line)."""
        self._errors.append({"field": field, "message": message})

    @property
    def errors(self) -> list[FieldError]:
        return list(self._errors)

    @property
    def failed(self) -> set[str]:
        """The fields with an error so far (``kwargs.hours`` counts as ``kwargs``)."""
        return {e["field"].split(".")[0] for e in self._errors}

    def given(self) -> dict[str, Any]:
        """The definition fields that were given, null ones included."""
        return {
            name: getattr(self, name) for name in self.model_fields_set if name not in CHANGE_NOTE
        }

    # -- applying -----------------------------------------------------------------------
    def resolve(
        self, current: ScheduleDefinition | None = None
    ) -> tuple[ScheduleDefinition, list[FieldError], set[str]]:
        """The definition this input makes (new, or ``current`` edited), every error found
        so far, and the fields those errors are about."""
        errors, failed = self.errors, self.failed
        given = self.given()

        def bad(name: str, message: str) -> None:
            errors.append({"field": name, "message": message})
            failed.add(name)

        if current is None:
            given = {k: v for k, v in given.items() if v is not None}
            for name in REQUIRED:
                if name not in given and name not in failed:
                    bad(name, "required")
            # A missing or refused required field gets a blank that validation refuses
            # again; that second error is then hidden, so each field is named once.
            base = ScheduleDefinition(**{k: given.pop(k, "") for k in REQUIRED})
        else:
            if "name" in given:
                bad("name", "cannot be changed")
                del given["name"]
            for name in sorted(k for k, v in given.items() if v is None and k not in NULLABLE):
                bad(name, "must not be null")
                del given[name]
            base = current
        for instant in ("run_at", "anchor"):
            value = given.get(instant)
            if value is not None and value.tzinfo is None:
                zone = ZoneInfo(given.get("timezone") or base.timezone)
                try:
                    given[instant] = wall_time(value, zone)
                except ValueError as exc:
                    bad(instant, str(exc))
                    del given[instant]
        definition = replace(base, **given)
        if definition.trigger in TRIGGER_FIELD:
            # Only the trigger's own field is kept: a schedule switched from cron to a
            # one-off time does not carry its old cron expression along.
            cleared: dict[str, Any] = {
                f: None for k, f in TRIGGER_FIELD.items() if k != definition.trigger
            }
            definition = replace(definition, **cleared)
        return definition, errors, failed


# Pydantic's words for the problems a person makes most, in the words the rest use.
MESSAGES = {
    "extra_forbidden": "unknown field",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "bool_parsing": "must be true or false",
    "datetime_from_date_parsing": "not an ISO 8601 date and time",
    "datetime_parsing": "not an ISO 8601 date and time",
    "datetime_type": "not an ISO 8601 date and time",
}


def _field_error(problem: ErrorDetails) -> FieldError:
    field = ".".join(str(part) for part in problem["loc"]) or "schedule"
    kind = problem["type"]
    if kind == "value_error":
        return {"field": field, "message": str(problem.get("ctx", {}).get("error"))}
    if kind == "enum":
        return {"field": field, "message": f"one of {problem.get('ctx', {}).get('expected')}"}
    return {"field": field, "message": MESSAGES.get(kind, problem["msg"])}


def hide_repeats(errors: list[FieldError], failed: set[str]) -> list[FieldError]:
    """A field refused while reading is not judged again (``kwargs`` covers ``kwargs.x``)."""
    return [e for e in errors if e["field"].split(".")[0] not in failed]
