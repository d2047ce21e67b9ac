"""/api/deadletters: list, inspect, re-drive and purge dead-lettered messages per queue.

Routes run the service off the event loop; its errors (unknown queue or message, missing
confirmation, broker down) reach the client through ``webapp/api/errors.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from jobs.services.deadletters import MAX_LIST, DeadLetterService, InvalidSelection
from webapp.api.deadletter_schemas import (
    DeadLetterDetailOut,
    DeadLetterListOut,
    DeadLetterOut,
    DeadLetterQueueOut,
    PurgeIn,
    PurgeOut,
    RedriveIn,
    RedriveOut,
)
from webapp.api.errors import ERROR_RESPONSES as ERRORS
from webapp.api.errors import StrictJSONRoute
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(prefix="/deadletters", tags=["dead letters"], route_class=StrictJSONRoute)


async def get_deadletters(request: Request) -> DeadLetterService:
    service: DeadLetterService = request.app.state.deadletters
    return service


Service = Annotated[DeadLetterService, Depends(get_deadletters)]


@router.get(
    "", response_model=list[DeadLetterQueueOut], responses=ERRORS, dependencies=[allow(Action.READ)]
)
async def list_queues(service: Service) -> list[DeadLetterQueueOut]:
    """Every work queue's dead-letter queue with its message count."""
    views = await run_in_threadpool(service.queues)
    return [DeadLetterQueueOut.of(v) for v in views]


@router.get(
    "/{queue}",
    response_model=DeadLetterListOut,
    responses=ERRORS,
    dependencies=[allow(Action.READ)],
)
async def list_messages(
    queue: str, service: Service, limit: int = Query(default=100, ge=1, le=MAX_LIST)
) -> DeadLetterListOut:
    """The oldest ``limit`` dead letters of ``queue`` with reason and run; they stay queued."""
    listing = await run_in_threadpool(service.list, queue, limit)
    return DeadLetterListOut(
        queue=DeadLetterQueueOut.of(listing.queue),
        messages=[DeadLetterOut.of(v) for v in listing.letters],
    )


@router.get(
    "/{queue}/messages/{message_id}",
    response_model=DeadLetterDetailOut,
    responses=ERRORS,
    dependencies=[allow(Action.READ)],
)
async def show_message(queue: str, message_id: str, service: Service) -> DeadLetterDetailOut:
    """One dead letter: headers, body, x-death, and its run with every attempt."""
    view = await run_in_threadpool(service.show, queue, message_id)
    return DeadLetterDetailOut.detail(view)


@router.post(
    "/{queue}/messages/{message_id}/redrive",
    response_model=RedriveOut,
    responses=ERRORS,
    dependencies=[allow(Action.REDRIVE)],
)
async def redrive_one(queue: str, message_id: str, service: Service) -> RedriveOut:
    """Publish one dead letter to its work queue again; its run continues under its id."""
    result = await run_in_threadpool(service.redrive, queue, [message_id])
    return RedriveOut.of(result)


@router.post(
    "/{queue}/redrive",
    response_model=RedriveOut,
    responses=ERRORS,
    dependencies=[allow(Action.REDRIVE)],
)
async def redrive(queue: str, body: RedriveIn, service: Service) -> RedriveOut:
    """Re-drive the messages ``ids``, or every message with ``all: true`` (not both)."""
    if body.all == (body.ids is not None):
        raise InvalidSelection("ids", "give either ids or all: true")
    result = await run_in_threadpool(service.redrive, queue, None if body.all else body.ids)
    return RedriveOut.of(result)


@router.post(
    "/{queue}/purge", response_model=PurgeOut, responses=ERRORS, dependencies=[allow(Action.PURGE)]
)
async def purge(queue: str, body: PurgeIn, service: Service) -> PurgeOut:
    """Delete every message of the queue's DLQ for good; needs ``{"confirm": true}``."""
    purged = await run_in_threadpool(service.purge, queue, body.confirm)
    return PurgeOut(queue=queue, purged=purged)
