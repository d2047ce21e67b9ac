from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from jobs.services.jobs import ArgumentsError, JobService, UnknownJobError, UnknownQueueError
from webapp.api.deps import get_service
from webapp.api.schemas import EnqueuedOut, EnqueueIn, ErrorOut, JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])
Service = Annotated[JobService, Depends(get_service)]


def _error(code: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=code, content={"detail": detail, "errors": errors or []})


@router.get("", response_model=list[JobOut])
async def list_jobs(service: Service) -> list[JobOut]:
    """Every registered job with its effective retry policy and parameters."""
    return [JobOut.model_validate(view.__dict__) for view in service.jobs()]


@router.get("/{name}", response_model=JobOut, responses={404: {"model": ErrorOut}})
async def get_job(name: str, service: Service) -> JobOut | JSONResponse:
    try:
        return JobOut.model_validate(service.job(name).__dict__)
    except UnknownJobError as exc:
        return _error(404, str(exc))


@router.post(
    "/{name}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnqueuedOut,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def enqueue(
    name: str, body: EnqueueIn, request: Request, service: Service
) -> EnqueuedOut | JSONResponse:
    """Validate the arguments, record a run and publish it; 202 once the broker confirmed."""
    try:
        run = await service.enqueue_async(name, body.args, body.kwargs, body.queue)
    except UnknownJobError as exc:
        return _error(404, str(exc))
    except ArgumentsError as exc:
        return _error(422, str(exc), exc.errors)
    except UnknownQueueError as exc:
        return _error(422, str(exc), [{"field": "queue", "message": str(exc)}])
    except Exception as exc:  # noqa: BLE001 - broker refused or unreachable: nothing stored
        return _error(503, f"not enqueued, nothing stored: {exc}")
    # base_url + a fixed path: url_for would walk every route on each enqueue.
    url = f"{request.base_url}api/runs/{run.id}"
    return EnqueuedOut(id=run.id, job=run.job, queue=run.queue, url=url)
