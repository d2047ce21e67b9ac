"""/api/schedules: create, edit, pause, resume, delete, run now and backfill schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from jobs.enqueue import EnqueueError
from jobs.schedules.definition import ScheduleDefinition
from jobs.services.schedules import (
    ScheduleError,
    ScheduleExistsError,
    ScheduleManager,
    ScheduleNotFoundError,
)
from webapp.api.schedule_schemas import (
    BackfillIn,
    ChangeIn,
    ScheduleDetailOut,
    ScheduleFields,
    ScheduleIn,
    ScheduleOut,
)
from webapp.api.schemas import EnqueuedOut, ErrorOut

router = APIRouter(prefix="/schedules", tags=["schedules"])
T = TypeVar("T")
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
    422: {"model": ErrorOut},
    503: {"model": ErrorOut},
}


async def get_manager(request: Request) -> ScheduleManager:
    manager: ScheduleManager = request.app.state.schedules
    return manager


Manager = Annotated[ScheduleManager, Depends(get_manager)]


async def call(fn: Callable[..., T], *args: Any) -> T | JSONResponse:
    """Run a manager call off the event loop and map its errors to HTTP answers."""
    try:
        return await run_in_threadpool(fn, *args)
    except ScheduleNotFoundError as exc:
        return JSONResponse(status_code=404, content={"detail": str(exc), "errors": []})
    except ScheduleExistsError as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc), "errors": []})
    except ScheduleError as exc:
        return JSONResponse(
            status_code=422,
            content={"detail": f"invalid schedule: {exc}", "errors": exc.errors},
        )
    except EnqueueError as exc:
        return JSONResponse(
            status_code=503, content={"detail": f"not sent, nothing stored: {exc}", "errors": []}
        )


async def schedule_out(fn: Callable[..., Any], *args: Any) -> ScheduleOut | JSONResponse:
    """``call`` for the endpoints that answer with the changed schedule."""
    result = await call(fn, *args)
    return result if isinstance(result, JSONResponse) else ScheduleOut.of(result)


def enqueued(request: Request, run: Any) -> EnqueuedOut:
    url = str(request.url_for("get_run", run_id=run.id))
    return EnqueuedOut(id=run.id, job=run.job, queue=run.queue, url=url)


@router.get("", response_model=list[ScheduleOut])
async def list_schedules(
    manager: Manager,
    limit: int = Query(default=500, ge=1, le=5000),
    offset: int = Query(default=0, ge=0),
) -> list[ScheduleOut] | JSONResponse:
    result = await call(manager.page, limit, offset)
    if isinstance(result, JSONResponse):
        return result
    return [ScheduleOut.of(r) for r in result]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScheduleOut, responses=ERRORS)
async def create_schedule(body: ScheduleIn, manager: Manager) -> ScheduleOut | JSONResponse:
    """Create a schedule; the running beat picks it up within a second."""
    fields = {k: v for k, v in body.changes().items() if v is not None and k != "name"}
    definition = ScheduleDefinition(name=body.name, **fields)
    return await schedule_out(manager.create, definition, body.changed_by, body.reason)


@router.get("/{name}", response_model=ScheduleDetailOut, responses=ERRORS)
async def get_schedule(name: str, manager: Manager) -> ScheduleDetailOut | JSONResponse:
    """The schedule, its next 10 fire times (its timezone and UTC) and its last runs."""
    result = await call(manager.detail, name)
    return result if isinstance(result, JSONResponse) else ScheduleDetailOut.of_detail(result)


@router.patch("/{name}", response_model=ScheduleOut, responses=ERRORS)
async def update_schedule(
    name: str, body: ScheduleFields, manager: Manager
) -> ScheduleOut | JSONResponse:
    """Change some fields; the rest stay. Everything is validated before anything is stored."""
    return await schedule_out(manager.update, name, body.changes(), body.changed_by, body.reason)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
async def delete_schedule(
    name: str, manager: Manager, changed_by: str = "api", reason: str | None = None
) -> Response:
    result = await call(manager.delete, name, changed_by, reason)
    return result if isinstance(result, JSONResponse) else Response(status_code=204)


@router.post("/{name}/pause", response_model=ScheduleOut, responses=ERRORS)
async def pause_schedule(
    name: str, manager: Manager, body: ChangeIn | None = None
) -> ScheduleOut | JSONResponse:
    body = body or ChangeIn()
    return await schedule_out(manager.pause, name, body.changed_by, body.reason)


@router.post("/{name}/resume", response_model=ScheduleOut, responses=ERRORS)
async def resume_schedule(
    name: str, manager: Manager, body: ChangeIn | None = None
) -> ScheduleOut | JSONResponse:
    """Resume from now: fires missed while paused are not sent."""
    body = body or ChangeIn()
    return await schedule_out(manager.resume, name, body.changed_by, body.reason)


@router.post("/{name}/reset", response_model=ScheduleOut, responses=ERRORS)
async def reset_schedule(
    name: str, manager: Manager, body: ChangeIn | None = None
) -> ScheduleOut | JSONResponse:
    """Make a schedule declared in code follow its code definition again."""
    body = body or ChangeIn()
    return await schedule_out(manager.reset, name, body.changed_by)


@router.post(
    "/{name}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnqueuedOut,
    responses=ERRORS,
)
async def run_now(name: str, request: Request, manager: Manager) -> EnqueuedOut | JSONResponse:
    """Send one run now, outside the timetable."""
    result = await call(manager.run_now, name)
    return result if isinstance(result, JSONResponse) else enqueued(request, result)


@router.post(
    "/{name}/backfill",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=list[EnqueuedOut],
    responses=ERRORS,
)
async def backfill(
    name: str, body: BackfillIn, request: Request, manager: Manager
) -> list[EnqueuedOut] | JSONResponse:
    """Send every fire in [start, end] that was never sent (at most 1000)."""
    result = await call(manager.backfill, name, body.start, body.end)
    if isinstance(result, JSONResponse):
        return result
    return [enqueued(request, r) for r in result]
