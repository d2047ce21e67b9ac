from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from jobs.services.jobs import JobService
from webapp.api.deps import ENQUEUE_LIMIT, get_service, public_url
from webapp.api.errors import ERROR_RESPONSES, StrictJSONRoute
from webapp.api.schemas import EnqueuedOut, EnqueueIn, JobOut
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictJSONRoute)
Service = Annotated[JobService, Depends(get_service)]


@router.get("", response_model=list[JobOut], dependencies=[allow(Action.READ)])
async def list_jobs(service: Service) -> list[JobOut]:
    """Every registered job with its effective retry policy and parameters."""
    return [JobOut.model_validate(view.__dict__) for view in service.jobs()]


@router.get(
    "/{name}", response_model=JobOut, responses=ERROR_RESPONSES, dependencies=[allow(Action.READ)]
)
async def get_job(name: str, service: Service) -> JobOut:
    return JobOut.model_validate(service.job(name).__dict__)


@router.post(
    "/{name}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnqueuedOut,
    responses=ERROR_RESPONSES,
    dependencies=[allow(Action.ENQUEUE), ENQUEUE_LIMIT],
)
async def enqueue(name: str, body: EnqueueIn, request: Request, service: Service) -> EnqueuedOut:
    """Validate the arguments, record a run and publish it; 202 once the broker confirmed."""
    run = await service.enqueue_async(name, body.args, body.kwargs, body.queue)
    # A fixed path: url_for would walk every route on each enqueue.
    url = public_url(request, f"/api/runs/{run.id}")
    return EnqueuedOut(id=run.id, job=run.job, queue=run.queue, url=url)
