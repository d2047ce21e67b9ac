from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from jobs.services.jobs import JobService
from jobs.store.tables import RUN_STATES
from webapp.api.deps import get_service
from webapp.api.schemas import ErrorOut, RunOut

router = APIRouter(prefix="/runs", tags=["runs"])
Service = Annotated[JobService, Depends(get_service)]


@router.get("", response_model=list[RunOut], responses={422: {"model": ErrorOut}})
async def list_runs(
    service: Service,
    job: str | None = None,
    state: str | None = Query(default=None, description=f"one of {', '.join(RUN_STATES)}"),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[RunOut] | JSONResponse:
    """The newest runs first, optionally of one job or in one state."""
    if state is not None and state not in RUN_STATES:
        return JSONResponse(
            status_code=422,
            content={
                "detail": f"unknown state {state!r}; one of {', '.join(RUN_STATES)}",
                "errors": [{"field": "state", "message": "unknown state"}],
            },
        )
    records = await run_in_threadpool(service.runs, job, state, limit)
    return [RunOut.of(r) for r in records]


@router.get("/{run_id}", response_model=RunOut, responses={404: {"model": ErrorOut}})
async def get_run(run_id: str, service: Service) -> RunOut | JSONResponse:
    """A run's state, attempts (with each attempt's timing), result or error."""
    record = await run_in_threadpool(service.run, run_id)
    if record is None:
        return JSONResponse(status_code=404, content={"detail": f"no run {run_id!r}", "errors": []})
    return RunOut.of(record)
