"""/api/triggers/preview: what a trigger would do before it is saved (the schedule form's
live preview): a plain-language sentence, notes that may surprise, and the next fires."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from jobs.schedules.definition import ScheduleError
from jobs.schedules.preview import TRIGGER_INPUTS, preview
from webapp.api.errors import ERROR_RESPONSES as ERRORS
from webapp.api.errors import StrictJSONRoute
from webapp.api.schedule_schemas import FireTimeOut

router = APIRouter(prefix="/triggers", tags=["schedules"], route_class=StrictJSONRoute)


class TriggerPreviewOut(BaseModel):
    description: str
    notes: list[str]
    fires: list[FireTimeOut]


@router.get("/preview", response_model=TriggerPreviewOut, responses=ERRORS)
def preview_trigger(request: Request) -> TriggerPreviewOut:
    """Query: ``trigger`` (cron, interval, once; default cron), ``cron``, ``interval_seconds``,
    ``anchor``, ``run_at``, ``timezone`` (default UTC), as the schedule's own fields, and
    ``count`` (1 to 50). Nothing is stored. A field that does not fit is a 422 naming it."""
    raw = {name: request.query_params.get(name) for name in TRIGGER_INPUTS}
    count = request.query_params.get("count") or "5"
    if not count.isdigit():
        raise ScheduleError([{"field": "count", "message": "must be a whole number"}])
    found = preview(raw, datetime.now(UTC), int(count))
    return TriggerPreviewOut(
        description=found.description,
        notes=found.notes,
        fires=[FireTimeOut(utc=f.utc, local=f.local) for f in found.fires],
    )
