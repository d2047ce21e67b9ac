from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from jobs.services.jobs import JobService
from jobs.services.runs import browse_runs
from jobs.store.tables import RUN_STATES
from webapp.api.deps import get_service
from webapp.api.errors import ERROR_RESPONSES, StrictJSONRoute
from webapp.api.schemas import RunOut

router = APIRouter(prefix="/runs", tags=["runs"], route_class=StrictJSONRoute)
Service = Annotated[JobService, Depends(get_service)]


@router.get("", response_model=list[RunOut], responses=ERROR_RESPONSES)
async def list_runs(
    service: Service,
    request: Request,
    response: Response,
    job: str | None = None,
    state: str | None = Query(default=None, description=f"one of {', '.join(RUN_STATES)}"),
    schedule: str | None = None,
    after: str | None = Query(default=None, description="cursor from the previous page"),
    limit: int = Query(default=50, ge=1, le=1000),
) -> list[RunOut]:
    """The newest runs first, filtered by job, state and schedule. When more runs follow,
    the ``Link: <...>; rel="next"`` header (and ``X-Next-Cursor``) gives the next page."""
    found = await run_in_threadpool(
        partial(
            browse_runs,
            service.store.engine,
            job=job,
            state=state,
            schedule=schedule,
            after=after,
            limit=limit,
        )
    )
    if found.next is not None:
        response.headers["X-Next-Cursor"] = found.next
        response.headers["Link"] = (
            f'<{request.url.include_query_params(after=found.next)}>; rel="next"'
        )
    return [RunOut.of(r) for r in found.runs]


@router.get("/{run_id}", response_model=RunOut, responses=ERROR_RESPONSES)
async def get_run(run_id: str, service: Service) -> RunOut:
    """A run's state, attempts (with each attempt's timing), result or error."""
    return RunOut.of(await run_in_threadpool(service.run, run_id))
