from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from starlette.concurrency import run_in_threadpool

from jobs.services.jobs import JobService
from webapp.api.deps import get_service
from webapp.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(
    response: Response, service: Annotated[JobService, Depends(get_service)]
) -> HealthOut:
    """Broker reachability and database access; 503 when either is down."""
    result = await run_in_threadpool(service.health)
    if result["status"] != "ok":
        response.status_code = 503
    return HealthOut.model_validate(result)
