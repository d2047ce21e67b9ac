from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from jobs.services.jobs import JobService
from jobs.services.run_actions import BulkResult, RunActions
from jobs.services.runs import browse_runs, parse_filter
from jobs.store.tables import RUN_ORIGINS, RUN_STATES
from webapp.api.deps import ENQUEUE_LIMIT, get_service, next_page
from webapp.api.errors import ERROR_RESPONSES, StrictJSONRoute
from webapp.api.schemas import RunOut
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(prefix="/runs", tags=["runs"], route_class=StrictJSONRoute)
Service = Annotated[JobService, Depends(get_service)]


async def get_actions(request: Request) -> RunActions:
    actions: RunActions = request.app.state.run_actions
    return actions


class RunFilterQuery(BaseModel):
    """Which runs: every field given must match."""

    job: str | None = None
    state: str | None = Field(default=None, description=f"one of {', '.join(RUN_STATES)}")
    schedule: str | None = None
    origin: str | None = Field(default=None, description=f"one of {', '.join(RUN_ORIGINS)}")
    since: str | None = Field(default=None, description="enqueued at or after (ISO 8601)")
    until: str | None = Field(default=None, description="enqueued before (ISO 8601)")
    error: str | None = Field(default=None, description="text in the error, any case")


class RunFilterIn(RunFilterQuery):
    model_config = ConfigDict(extra="forbid")  # a misspelt field would widen the selection


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "cancel"]
    filter: RunFilterIn = Field(default_factory=RunFilterIn)
    confirm: bool = Field(default=False, description="required unless dry_run")
    dry_run: bool = Field(default=False, description="say what would happen; change nothing")


class AffectedOut(BaseModel):
    id: str
    job: str
    state: str = Field(description="the run's state before the action")
    outcome: str = Field(description="retried, re-driven, cancelled, left alone or failed")
    detail: str


class BulkOut(BaseModel):
    action: str
    matched: int
    acted: int
    dry_run: bool
    runs: list[AffectedOut]

    @classmethod
    def of(cls, result: BulkResult) -> BulkOut:
        return cls(
            action=result.action,
            matched=result.matched,
            acted=result.acted,
            dry_run=result.dry_run,
            runs=[AffectedOut(**vars(r)) for r in result.runs],
        )


@router.get(
    "", response_model=list[RunOut], responses=ERROR_RESPONSES, dependencies=[allow(Action.READ)]
)
async def list_runs(
    service: Service,
    request: Request,
    response: Response,
    filters: Annotated[RunFilterQuery, Query()],
    after: str | None = Query(default=None, description="cursor from the previous page"),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[RunOut]:
    """The newest runs first, filtered by job, state, schedule, origin, enqueue time and
    error text. When more runs follow, the ``Link: <...>; rel="next"`` header (and
    ``X-Next-Cursor``) gives the next page."""
    found = await run_in_threadpool(
        partial(
            browse_runs,
            service.store.engine,
            filters.model_dump(),
            after=after,
            limit=limit,
        )
    )
    if found.next is not None:
        response.headers["X-Next-Cursor"] = found.next
        response.headers["Link"] = next_page(request, after=found.next)
    return [RunOut.of(r) for r in found.runs]


@router.post(
    "/bulk",
    response_model=BulkOut,
    responses=ERROR_RESPONSES,
    dependencies=[allow(Action.CONTROL_RUNS), ENQUEUE_LIMIT],
)
async def bulk(body: BulkIn, actions: Annotated[RunActions, Depends(get_actions)]) -> BulkOut:
    """Retry or cancel every run the filter matches (at most 500; 409 above that).
    A retry re-drives a dead-lettered run and sends a failed or expired one again under
    its id (a new attempt); a cancel marks PENDING and RETRY runs CANCELLED, so workers
    skip them. Each matched run is listed with what happened to it."""
    where = parse_filter(body.filter.model_dump())
    result = await run_in_threadpool(
        partial(actions.apply, body.action, where, confirm=body.confirm, dry_run=body.dry_run)
    )
    return BulkOut.of(result)


@router.get(
    "/{run_id}", response_model=RunOut, responses=ERROR_RESPONSES, dependencies=[allow(Action.READ)]
)
async def get_run(run_id: str, service: Service) -> RunOut:
    """A run's state, attempts (with each attempt's timing), result or error."""
    return RunOut.of(await run_in_threadpool(service.run, run_id))
