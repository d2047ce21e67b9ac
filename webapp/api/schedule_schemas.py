"""Pydantic models of the schedules API."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from jobs.monitoring.schedules import ScheduleStatus
from jobs.schedules.cron_describe import describe_stored
from jobs.schedules.health import HealthState
from jobs.schedules.inputs import CHANGED_BY_NOTE, ScheduleInput
from jobs.services.schedules import ScheduleDetail
from jobs.store.schedules import ScheduleRecord
from webapp.api.schemas import RunOut


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with its ``$defs`` references replaced by what they name."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def schedule_body(description: str) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads a ScheduleInput itself (so that its
    errors are reported with the schedule's other errors, as the UI and CLI do)."""
    schema = ScheduleInput.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changed_by: str | None = Field(default=None, max_length=200, description=CHANGED_BY_NOTE)
    reason: str | None = Field(default=None, max_length=2000)


class BackfillIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime


class ScheduleStatusOut(BaseModel):
    state: HealthState
    reason: str
    grace_seconds: int = Field(description="the grace in force (the default when not set)")
    last_outcome: str | None = Field(description="SUCCESS, FAILURE or EXPIRED: newest finished")
    last_outcome_at: datetime | None
    last_success_for: datetime | None = Field(description="scheduled time of the last success")

    @classmethod
    def of(cls, status: ScheduleStatus) -> ScheduleStatusOut:
        health, runs = status.health, status.runs
        return cls(
            state=health.state,
            reason=health.reason,
            grace_seconds=health.grace_seconds,
            last_outcome=runs.last_outcome,
            last_outcome_at=runs.last_outcome_at,
            last_success_for=runs.last_success_for,
        )


def _with_status(record: ScheduleRecord, status: ScheduleStatus | None) -> dict[str, Any]:
    """The record's fields; with a status, the counters show only fires that happened."""
    values = dict(record.__dict__)
    if record.trigger != "interval":
        values["anchor"] = None  # bookkeeping only: other triggers have no grid
    # Never raises: a stored expression that no longer parses is described as such.
    values["description"], values["notes"] = describe_stored(
        record.build_trigger, datetime.now(UTC)
    )
    if status is not None:
        values.update(
            status=ScheduleStatusOut.of(status),
            fired_count=status.fired,
            last_fire_at=status.last_fire_at,
            next_fire_at=status.next_fire_at,
        )
    return values


# The API shows every field of a stored schedule but the store's own bookkeeping.
NOT_SHOWN = frozenset({"version", "deleted", "anchor"})


def _stored_fields() -> dict[str, Any]:
    hints = get_type_hints(ScheduleRecord)
    return {f.name: (hints[f.name], ...) for f in fields(ScheduleRecord) if f.name not in NOT_SHOWN}


if TYPE_CHECKING:
    StoredSchedule = BaseModel
else:
    # Derived from ScheduleRecord (itself a ScheduleDefinition), so that a new schedule
    # field shows up here without being spelled again.
    StoredSchedule = create_model("StoredSchedule", **_stored_fields())


class ScheduleOut(StoredSchedule):
    anchor: datetime | None = Field(
        default=None, description="interval schedules: the grid point stored as their phase"
    )
    description: str = Field(examples=["at 09:00 on Monday to Friday, Europe/London"])
    notes: list[str] = Field(
        description="what may surprise: both day fields restricted, rare fires"
    )

    status: ScheduleStatusOut | None = Field(
        default=None, description="health and counters; given by the list and detail reads"
    )

    @classmethod
    def of(cls, record: ScheduleRecord, status: ScheduleStatus | None = None) -> ScheduleOut:
        return cls.model_validate(_with_status(record, status))


class FireTimeOut(BaseModel):
    utc: datetime
    local: datetime


class ScheduleDetailOut(ScheduleOut):
    upcoming: list[FireTimeOut]
    runs: list[RunOut]

    @classmethod
    def of_detail(cls, detail: ScheduleDetail) -> ScheduleDetailOut:
        return cls.model_validate(
            {
                **_with_status(detail.schedule, detail.status),
                "upcoming": [FireTimeOut(utc=f.utc, local=f.local) for f in detail.upcoming],
                "runs": [RunOut.of(r) for r in detail.runs],
            }
        )
