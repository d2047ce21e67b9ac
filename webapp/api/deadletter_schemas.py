"""Pydantic models of the dead-letter API's requests and responses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from jobs.services.deadletters import LetterView, QueueView, Redriven
from webapp.api.schemas import RunOut


class DeadLetterQueueOut(BaseModel):
    queue: str = Field(description="the work queue's short name")
    work_queue: str
    dead_letter_queue: str
    count: int = Field(description="messages ready in the dead-letter queue")

    @classmethod
    def of(cls, view: QueueView) -> DeadLetterQueueOut:
        return cls(**view.__dict__)


class DeadLetterOut(BaseModel):
    id: str = Field(description="the message id; for a Celery task also its run id")
    run_id: str | None
    job: str | None
    reason: str = Field(description="rejected, delivery_limit, expired, poison, ...")
    source_queue: str | None
    died_at: str | None
    death_count: int
    run_state: str | None
    run_attempts: int | None

    @classmethod
    def of(cls, view: LetterView) -> DeadLetterOut:
        return cls(
            id=view.id,
            run_id=view.run_id,
            job=view.job,
            reason=view.reason,
            source_queue=view.source_queue,
            died_at=view.died_at,
            death_count=view.death_count,
            run_state=view.run.state if view.run else None,
            run_attempts=view.run.attempts if view.run else None,
        )


class DeadLetterListOut(BaseModel):
    queue: DeadLetterQueueOut
    messages: list[DeadLetterOut] = Field(description="oldest first")


class DeadLetterDetailOut(DeadLetterOut):
    headers: dict[str, Any]
    properties: dict[str, Any]
    body: Any = Field(description="JSON if it parses, else text, else 'base64:...'")
    x_death: list[dict[str, Any]]
    run: RunOut | None

    @classmethod
    def detail(cls, view: LetterView) -> DeadLetterDetailOut:
        return cls(
            **DeadLetterOut.of(view).model_dump(),
            headers=view.headers,
            properties=view.properties,
            body=view.body,
            x_death=view.letter.deaths,
            run=RunOut.of(view.run) if view.run else None,
        )


class RedriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] | None = Field(default=None, description="message ids to re-drive")
    all: bool = Field(default=False, description="re-drive every message instead")


class RedriveOut(BaseModel):
    queue: str
    redriven: list[str] = Field(description="message ids now back in the work queue")
    runs_requeued: list[str] = Field(description="runs put back to PENDING")

    @classmethod
    def of(cls, result: Redriven) -> RedriveOut:
        return cls(queue=result.queue, redriven=result.ids, runs_requeued=result.runs_requeued)


class PurgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(default=False, description="must be true: purged messages are gone")


class PurgeOut(BaseModel):
    queue: str
    purged: int
