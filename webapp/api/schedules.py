"""/api/schedules: create, edit, pause, resume, delete, run now and backfill schedules.

Routes run the manager off the event loop and return models; its errors (not found,
exists, invalid, broker down) reach the client through ``webapp/api/errors.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi import Body as FastAPIBody
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from jobs.schedules.inputs import CHANGED_BY_NOTE, ScheduleInput
from jobs.services.schedules import ScheduleManager
from jobs.store.runs import NewRun
from jobs.store.schedules import MAX_OFFSET
from webapp.api.deps import ENQUEUE_LIMIT, SCHEDULE_LIMIT, public_url
from webapp.api.errors import ERROR_RESPONSES as ERRORS
from webapp.api.errors import StrictJSONRoute
from webapp.api.schedule_schemas import (
    BackfillIn,
    ChangeIn,
    ScheduleDetailOut,
    ScheduleOut,
    schedule_body,
)
from webapp.api.schemas import EnqueuedOut
from webapp.auth.api import allow, current_principal
from webapp.auth.permissions import Action
from webapp.auth.principal import Principal

router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=StrictJSONRoute)


async def get_manager(request: Request) -> ScheduleManager:
    manager: ScheduleManager = request.app.state.schedules
    return manager


Manager = Annotated[ScheduleManager, Depends(get_manager)]
# Who the audit log records for a change: the caller's credentials, not the body's changed_by.
Caller = Annotated[Principal, Depends(current_principal)]
# Read by ScheduleInput.read, not by FastAPI: a field that does not parse is then reported
# together with every other error of the schedule. The schema is documented per route.
Body = Annotated[dict[str, Any], FastAPIBody(include_in_schema=False)]


def enqueued(request: Request, run: NewRun) -> EnqueuedOut:
    url = public_url(request, f"/api/runs/{run.id}")
    return EnqueuedOut(id=run.id, job=run.job, queue=run.queue, url=url)


@router.get("", response_model=list[ScheduleOut], dependencies=[allow(Action.READ)])
async def list_schedules(
    manager: Manager,
    limit: int = Query(default=500, ge=1, le=5000),
    offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
) -> list[ScheduleOut]:
    """Schedules by name, each with its health state and counters of fires that happened."""
    records = await run_in_threadpool(manager.page, limit, offset)
    statuses = await run_in_threadpool(manager.statuses, records)
    return [ScheduleOut.of(r, statuses[r.name]) for r in records]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ScheduleOut,
    responses=ERRORS,
    openapi_extra=schedule_body("name, job and trigger are required"),
    dependencies=[allow(Action.EDIT_SCHEDULES), SCHEDULE_LIMIT],
)
async def create_schedule(body: Body, manager: Manager, caller: Caller) -> ScheduleOut:
    """Create a schedule; the running beat picks it up within a second."""
    given = ScheduleInput.read(body)
    by = caller.actor(given.changed_by)
    return ScheduleOut.of(await run_in_threadpool(manager.create, given, by, given.reason))


@router.get(
    "/{name}", response_model=ScheduleDetailOut, responses=ERRORS, dependencies=[allow(Action.READ)]
)
async def get_schedule(name: str, manager: Manager) -> ScheduleDetailOut:
    """The schedule, its next 10 fire times (its timezone and UTC) and its last runs."""
    return ScheduleDetailOut.of_detail(await run_in_threadpool(manager.detail, name))


@router.patch(
    "/{name}",
    response_model=ScheduleOut,
    responses=ERRORS,
    openapi_extra=schedule_body("the fields to change; null clears an optional one"),
    dependencies=[allow(Action.EDIT_SCHEDULES), SCHEDULE_LIMIT],
)
async def update_schedule(name: str, body: Body, manager: Manager, caller: Caller) -> ScheduleOut:
    """Change some fields; the rest stay. Everything is validated before anything is stored."""
    given = ScheduleInput.read(body)
    by = caller.actor(given.changed_by)
    return ScheduleOut.of(await run_in_threadpool(manager.update, name, given, by, given.reason))


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    dependencies=[allow(Action.EDIT_SCHEDULES), SCHEDULE_LIMIT],
)
async def delete_schedule(
    name: str,
    manager: Manager,
    caller: Caller,
    changed_by: str | None = Query(default=None, max_length=200, description=CHANGED_BY_NOTE),
    reason: str | None = Query(default=None, max_length=2000),
) -> Response:
    await run_in_threadpool(manager.delete, name, caller.actor(changed_by), reason)
    return Response(status_code=204)


@router.post(
    "/{name}/pause",
    response_model=ScheduleOut,
    responses=ERRORS,
    dependencies=[allow(Action.PAUSE_SCHEDULE), SCHEDULE_LIMIT],
)
async def pause_schedule(
    name: str, manager: Manager, caller: Caller, body: ChangeIn | None = None
) -> ScheduleOut:
    body = body or ChangeIn()
    by = caller.actor(body.changed_by)
    return ScheduleOut.of(await run_in_threadpool(manager.pause, name, by, body.reason))


@router.post(
    "/{name}/resume",
    response_model=ScheduleOut,
    responses=ERRORS,
    dependencies=[allow(Action.PAUSE_SCHEDULE), SCHEDULE_LIMIT],
)
async def resume_schedule(
    name: str, manager: Manager, caller: Caller, body: ChangeIn | None = None
) -> ScheduleOut:
    """Resume from now: fires missed while paused are not sent."""
    body = body or ChangeIn()
    by = caller.actor(body.changed_by)
    return ScheduleOut.of(await run_in_threadpool(manager.resume, name, by, body.reason))


@router.post(
    "/{name}/reset",
    response_model=ScheduleOut,
    responses=ERRORS,
    dependencies=[allow(Action.PAUSE_SCHEDULE), SCHEDULE_LIMIT],
)
async def reset_schedule(
    name: str, manager: Manager, caller: Caller, body: ChangeIn | None = None
) -> ScheduleOut:
    """Make a schedule declared in code follow its code definition again."""
    body = body or ChangeIn()
    return ScheduleOut.of(
        await run_in_threadpool(manager.reset, name, caller.actor(body.changed_by))
    )


@router.post(
    "/{name}/run",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnqueuedOut,
    responses=ERRORS,
    dependencies=[allow(Action.RUN_SCHEDULE), ENQUEUE_LIMIT],
)
async def run_now(name: str, request: Request, manager: Manager) -> EnqueuedOut:
    """Send one run now, outside the timetable."""
    return enqueued(request, await run_in_threadpool(manager.run_now, name))


@router.post(
    "/{name}/backfill",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=list[EnqueuedOut],
    responses=ERRORS,
    dependencies=[allow(Action.RUN_SCHEDULE), ENQUEUE_LIMIT],
)
async def backfill(
    name: str, body: BackfillIn, request: Request, manager: Manager
) -> list[EnqueuedOut]:
    """Send every fire in [start, end] that was never sent (at most 1000)."""
    sent = await run_in_threadpool(manager.backfill, name, body.start, body.end)
    return [enqueued(request, r) for r in sent]
