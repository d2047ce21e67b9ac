from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jobs.services.health import beat_status, product_health
from jobs.services.jobs import JobService
from webapp.api.deps import get_service
from webapp.api.errors import StrictJSONRoute
from webapp.api.schemas import HealthOut
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)
# Not under /api: the liveness probe, open in every mode, says nothing but that we answer.
liveness = APIRouter(tags=["health"])


class LiveOut(BaseModel):
    status: str = "ok"


@liveness.get("/livez", response_model=LiveOut, dependencies=[allow(Action.PUBLIC)])
async def livez() -> LiveOut:
    """The process answers HTTP. No credentials needed; nothing about the broker, the store
    or the beat (``/api/health`` tells that, to those who may read)."""
    return LiveOut()


class BeatHealth(BaseModel):
    ok: bool
    leader: str | None
    epoch: int
    since: datetime | None
    last_evaluated: datetime | None
    expires_at: datetime | None
    error: str | None = None


class ProductHealthOut(HealthOut):
    beat: BeatHealth


@router.get(
    "/health",
    response_model=ProductHealthOut,
    responses={503: {"model": ProductHealthOut}},
    dependencies=[allow(Action.READ)],
)
async def health(
    response: Response, service: Annotated[JobService, Depends(get_service)]
) -> ProductHealthOut:
    """The broker takes a publish, the store takes a write, and who leads the beat; 503 when
    a required part is down (the beat is required with ``BEATKEEPER_HEALTH_REQUIRE_BEAT``)."""
    app = service.app
    result = await run_in_threadpool(
        product_health,
        app.settings.broker.url,
        app.store.engine,
        require_beat=app.settings.beat.health_required,
    )
    if result["status"] != "ok":
        response.status_code = 503
    return ProductHealthOut.model_validate(result)


@router.get(
    "/health/beat",
    response_model=BeatHealth,
    responses={503: {"model": BeatHealth}},
    dependencies=[allow(Action.READ)],
)
async def beat_health(
    response: Response, service: Annotated[JobService, Depends(get_service)]
) -> BeatHealth:
    """Who leads the beat, since when, the last tick that evaluated schedules; 503 when no
    beat holds a live lease."""
    status = await run_in_threadpool(beat_status, service.app.store.engine)
    if not status.alive:
        response.status_code = 503
    return BeatHealth.model_validate(status.as_dict())
