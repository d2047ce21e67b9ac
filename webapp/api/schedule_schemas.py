"""Pydantic models of the schedules API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.monitoring.health import HealthState
from jobs.monitoring.schedules import ScheduleStatus
from jobs.schedules.cron_describe import describe_stored
from jobs.services.schedules import ScheduleDetail
from jobs.store.schedules import ScheduleRecord
from webapp.api.schemas import RunOut


class ScheduleFields(BaseModel):
    """Fields a person sets; every one optional in a PATCH."""

    model_config = ConfigDict(extra="forbid")

    job: str | None = None
    trigger: Literal["cron", "interval", "once"] | None = None
    cron: str | None = Field(default=None, examples=["*/5 * * * *"])
    interval_seconds: int | None = None
    run_at: datetime | None = None
    timezone: str | None = Field(default=None, examples=["Europe/Paris"])
    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None
    queue: str | None = None
    priority: int | None = None
    expires_seconds: int | None = None
    jitter_seconds: int | None = None
    catch_up: Literal["skip", "latest", "all"] | None = None
    catch_up_window_seconds: int | None = None
    overlap: Literal["allow", "skip", "buffer_one"] | None = None
    enabled: bool | None = None
    grace_seconds: int | None = Field(
        default=None, description="seconds past a due fire before it is late; null: default"
    )
    changed_by: str = Field(default="api", max_length=200)
    reason: str | None = Field(default=None, max_length=2000)

    def changes(self) -> dict[str, Any]:
        """The definition fields that were given (changed_by and reason are metadata)."""
        given = self.model_dump(exclude_unset=True, exclude={"changed_by", "reason"})
        return given


class ScheduleIn(ScheduleFields):
    name: str = Field(examples=["nightly-report"])
    job: str
    trigger: Literal["cron", "interval", "once"]


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changed_by: str = Field(default="api", max_length=200)
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
    # Never raises: a stored expression that no longer parses is described as such.
    values["description"], values["notes"] = describe_stored(
        record.build_trigger, datetime.now(UTC)
    )
    if status is not None:
        values.update(
            status=ScheduleStatusOut.of(status),
            fired_count=status.fired,
            last_fire_at=status.last_fire_at,
        )
    return values


class ScheduleOut(BaseModel):
    name: str
    job: str
    trigger: str
    cron: str | None
    interval_seconds: int | None
    run_at: datetime | None
    timezone: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str | None
    priority: int | None
    expires_seconds: int | None
    jitter_seconds: int
    catch_up: str
    catch_up_window_seconds: int
    overlap: str
    enabled: bool
    changed_by: str | None
    changed_at: datetime | None
    change_reason: str | None
    source: str
    edited_at: datetime | None
    created_at: datetime
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    last_run_id: str | None
    fired_count: int
    skipped_count: int
    missed_count: int
    description: str = Field(examples=["at 09:00 on Monday to Friday, Europe/London"])
    notes: list[str] = Field(
        description="what may surprise: both day fields restricted, rare fires"
    )

    grace_seconds: int | None = None
    status: ScheduleStatusOut | None = Field(
        default=None, description="health and counters; given by the list and detail reads"
    )

    @classmethod
    def of(cls, record: ScheduleRecord, status: ScheduleStatus | None = None) -> ScheduleOut:
        return cls.model_validate(_with_status(record, status))


class FireTimeOut(BaseModel):
    utc: datetime
    local: datetime


class ScheduledRunOut(RunOut):
    lateness_ms: float | None


class ScheduleDetailOut(ScheduleOut):
    upcoming: list[FireTimeOut]
    runs: list[ScheduledRunOut]

    @classmethod
    def of_detail(cls, detail: ScheduleDetail) -> ScheduleDetailOut:
        return cls.model_validate(
            {
                **_with_status(detail.schedule, detail.status),
                "upcoming": [FireTimeOut(utc=f.utc, local=f.local) for f in detail.upcoming],
                "runs": [
                    ScheduledRunOut(**RunOut.of(r).model_dump(), lateness_ms=r.lateness_ms)
                    for r in detail.runs
                ],
            }
        )
