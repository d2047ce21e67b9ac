"""/api/schedules/import and /api/schedules/export: schedules in bulk (JSON lines or a JSON
array in, JSON lines out). The rules live in ``jobs/services/schedule_import.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from jobs.schedules.inputs import CHANGED_BY_NOTE
from jobs.services.schedule_import import ImportInvalid, export_lines, import_schedules
from webapp.api.deps import SCHEDULE_LIMIT
from webapp.api.errors import ERROR_RESPONSES as ERRORS
from webapp.api.errors import StrictJSONRoute
from webapp.api.schedules import Manager
from webapp.auth.api import allow, current_principal
from webapp.auth.permissions import Action
from webapp.auth.principal import Principal

router = APIRouter(prefix="/schedules", tags=["schedules"], route_class=StrictJSONRoute)


class ImportedOut(BaseModel):
    imported: int


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportedOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "JSON lines (one schedule object per line) or a JSON array of them",
            "content": {"application/x-ndjson": {}, "application/json": {}},
        }
    },
    dependencies=[allow(Action.EDIT_SCHEDULES), SCHEDULE_LIMIT],
)
async def import_schedules_route(
    request: Request,
    manager: Manager,
    caller: Annotated[Principal, Depends(current_principal)],
    changed_by: str | None = Query(default=None, max_length=200, description=CHANGED_BY_NOTE),
    reason: str | None = Query(default=None, max_length=2000),
) -> ImportedOut:
    """Create every schedule given, or none: a 422 names each bad line and field."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ImportInvalid([{"field": "body", "message": "must be UTF-8 text"}]) from None
    by = caller.actor(changed_by)
    count = await run_in_threadpool(import_schedules, manager, text, by, reason)
    return ImportedOut(imported=count)


@router.get(
    "/export",
    responses={200: {"content": {"application/x-ndjson": {}}}},
    dependencies=[allow(Action.READ)],
)
async def export_schedules(manager: Manager) -> StreamingResponse:
    """Every schedule as a JSON line, in the format import reads."""
    lines = iterate_in_threadpool(line + "\n" for line in export_lines(manager))
    return StreamingResponse(lines, media_type="application/x-ndjson")
