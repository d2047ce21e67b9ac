from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from jobs.services.jobs import JobService
from jobs.store.tables import RUN_STATES
from webapp.api.deps import get_service
from webapp.api.errors import ERROR_RESPONSES
from webapp.api.schemas import RunOut

router = APIRouter(prefix="/runs", tags=["runs"])
Service = Annotated[JobService, Depends(get_service)]


@router.get("", response_model=list[RunOut], responses=ERROR_RESPONSES)
async def list_runs(
    service: Service,
    job: str | None = None,
    state: str | None = Query(default=None, description=f"one of {', '.join(RUN_STATES)}"),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[RunOut]:
    """The newest runs first, optionally of one job or in one state."""
    records = await run_in_threadpool(service.runs, job, state, limit)
    return [RunOut.of(r) for r in records]


@router.get("/{run_id}", response_model=RunOut, responses=ERROR_RESPONSES)
async def get_run(run_id: str, service: Service) -> RunOut:
    """A run's state, attempts (with each attempt's timing), result or error."""
    return RunOut.of(await run_in_threadpool(service.run, run_id))
