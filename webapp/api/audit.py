"""/api/audit: who changed a schedule, a policy, a user or a token, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jobs.store.audit import MAX_PAGE, AuditKind, AuditLog
from webapp.api.deps import next_page
from webapp.api.errors import ERROR_RESPONSES, StrictJSONRoute
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(prefix="/audit", tags=["audit"], route_class=StrictJSONRoute)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    kind: AuditKind
    subject: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


async def get_audit(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


Log = Annotated[AuditLog, Depends(get_audit)]


@router.get(
    "",
    response_model=list[AuditOut],
    responses=ERROR_RESPONSES,
    dependencies=[allow(Action.READ)],
)
async def list_audit(
    log: Log,
    request: Request,
    response: Response,
    kind: AuditKind | None = None,
    subject: str | None = Query(default=None, max_length=200),
    actor: str | None = Query(default=None, max_length=200),
    action: str | None = Query(default=None, max_length=32),
    before: int | None = Query(
        default=None, ge=1, le=2**62, description="cursor: the last id of the previous page"
    ),
    limit: int = Query(default=100, ge=1, le=MAX_PAGE),
) -> list[AuditOut]:
    """Every recorded change, newest first, filtered by kind, subject, actor and action.
    When more follow, ``Link: <...>; rel="next"`` names the next page."""
    entries = await run_in_threadpool(
        lambda: log.page(
            kind=kind, subject=subject, actor=actor, action=action, before_id=before, limit=limit
        )
    )
    if len(entries) == limit:
        response.headers["Link"] = next_page(request, before=entries[-1].id)
    return [AuditOut.model_validate(e.__dict__) for e in entries]
