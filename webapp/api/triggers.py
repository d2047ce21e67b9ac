"""/api/triggers/preview: what a trigger would do before it is saved (the schedule form's
live preview): a plain-language sentence, notes that may surprise, and the next fires."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from jobs.schedules.definition import ScheduleError
from jobs.schedules.preview import TRIGGER_INPUTS, preview
from jobs.services.schedules import ScheduleManager
from webapp.api.errors import ERROR_RESPONSES as ERRORS
from webapp.api.errors import StrictJSONRoute
from webapp.api.schedule_schemas import FireTimeOut
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(prefix="/triggers", tags=["schedules"], route_class=StrictJSONRoute)


class TriggerPreviewOut(BaseModel):
    description: str
    notes: list[str]
    fires: list[FireTimeOut]


@router.get(
    "/preview",
    response_model=TriggerPreviewOut,
    responses=ERRORS,
    dependencies=[allow(Action.READ)],
)
def preview_trigger(request: Request) -> TriggerPreviewOut:
    """Query: ``trigger`` (cron, interval, once; default cron), ``cron``, ``interval_seconds``,
    ``anchor``, ``run_at``, ``timezone`` (default UTC), as the schedule's own fields, and
    ``count`` (1 to 50); ``schedule``: the stored schedule being edited (an interval of the
    same length keeps its grid). Nothing is stored. A field that does not fit is a 422 naming
    it; an unknown ``schedule`` is a 404."""
    raw = {name: request.query_params.get(name) for name in TRIGGER_INPUTS}
    count = request.query_params.get("count") or "5"
    if not count.isdigit():
        raise ScheduleError([{"field": "count", "message": "must be a whole number"}])
    editing = request.query_params.get("schedule")
    grid = None
    if editing:
        manager: ScheduleManager = request.app.state.schedules
        grid = manager.get(editing).grid()
    found = preview(raw, datetime.now(UTC), int(count), grid)
    return TriggerPreviewOut(
        description=found.description,
        notes=found.notes,
        fires=[FireTimeOut(utc=f.utc, local=f.local) for f in found.fires],
    )
