"""Pydantic models of the API's requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobs.store.runs import RunRecord


class EnqueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    args: list[Any] = Field(default_factory=list, description="positional arguments, in order")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="arguments by name")
    queue: str | None = Field(default=None, description="short queue name; default: the job's")


class FieldError(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    detail: str
    errors: list[FieldError] = Field(default_factory=list)


class PolicyOut(BaseModel):
    retry_on: list[str]
    max_retries: int
    backoff_base: int
    backoff_cap: int
    jitter: bool
    time_limit: int
    on_exhausted: str
    delays: list[int] = Field(description="the longest wait before each retry, in seconds")


class ParameterOut(BaseModel):
    name: str
    type: str
    required: bool
    default: Any = None
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")


class JobOut(BaseModel):
    name: str
    description: str
    queue: str
    policy: PolicyOut
    parameters: list[ParameterOut]


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    retry_in: float | None = Field(description="seconds until the retry this attempt asked for")
    worker: str | None
    runtime_ms: float | None = Field(default=None, description="finished minus started")


class RunOut(BaseModel):
    id: str
    job: str
    queue: str
    state: str
    attempts: int
    args: list[Any]
    kwargs: dict[str, Any]
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    next_retry_at: datetime | None
    runtime_ms: float | None
    result: Any
    error: str | None
    traceback: str | None
    dead_lettered: bool
    worker: str | None
    schedule: str | None = None
    scheduled_for: datetime | None = None
    published_at: datetime | None = None
    reason: str | None = Field(
        default=None, description="why the run is where it is: cancelled, expired, skipped, held"
    )
    origin: str = Field(
        default="manual", description="manual, schedule, run_now, backfill, redrive or retry"
    )
    lateness_ms: float | None = Field(
        default=None, description="scheduled time to start, for a schedule's run"
    )
    queue_wait_ms: float | None = Field(
        default=None, description="publication to the first attempt's start"
    )
    done: bool
    history: list[AttemptOut] = Field(default_factory=list)

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        data = {k: getattr(run, k) for k in cls.model_fields if k != "history"}
        return cls(
            **data,
            history=[AttemptOut(**a.__dict__, runtime_ms=a.runtime_ms) for a in run.history],
        )


class EnqueuedOut(BaseModel):
    id: str
    job: str
    queue: str
    state: str = "PENDING"
    url: str


class ComponentHealth(BaseModel):
    ok: bool
    error: str | None = None
    latency_ms: float | None = None


class HealthOut(BaseModel):
    status: str
    broker: ComponentHealth
    database: ComponentHealth
