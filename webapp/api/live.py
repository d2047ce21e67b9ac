"""/api/events: server-sent events of run and schedule changes, for the live pages.

The change feed (jobs/monitoring/changes.py) hands each poll's changes to the hub from its
thread; the hub passes them to the event loop, which puts one batch per poll into each
subscriber's bounded queue. One SSE message per batch keeps 1,000 changes a second to about
ten messages. A subscriber that falls behind gets a ``resync`` event (refresh everything)
instead of an ever-growing queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from jobs.errors import Invalid
from jobs.store.changes import RunChange, ScheduleChange
from webapp.api.errors import StrictJSONRoute
from webapp.auth.api import allow
from webapp.auth.permissions import Action

router = APIRouter(tags=["live"], route_class=StrictJSONRoute)
QUEUE_BATCHES = 200
PING_SECONDS = 15
FILTERS = ("run", "job", "schedule", "scheduled")


def change_dict(c: RunChange) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "run": c.run_id,
        "job": c.job,
        "queue": c.queue,
        "state": c.state,
        "outcome": c.outcome,
        "schedule": c.schedule,
        "attempt": c.number or None,
        "worker": c.worker,
        "at": c.at.isoformat(),
    }


@dataclass
class Filter:
    run: str | None = None
    job: str | None = None
    schedule: str | None = None
    scheduled_only: bool = False

    def wants(self, item: dict[str, Any]) -> bool:
        if item["kind"] == "schedule":
            return self.run is None and self.job is None and self.schedule in (None, item["name"])
        if self.run is not None and item["run"] != self.run:
            return False
        if self.job is not None and item["job"] != self.job:
            return False
        if self.schedule is not None and item["schedule"] != self.schedule:
            return False
        return not (self.scheduled_only and item["schedule"] is None)


@dataclass(eq=False)
class Subscriber:
    filter: Filter
    queue: asyncio.Queue[list[dict[str, Any]] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_BATCHES)
    )
    behind: bool = False


class LiveHub:
    """A change-feed listener fanning batches out to SSE subscribers on one event loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self.sent_batches = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, runs: Sequence[RunChange], schedules: Sequence[ScheduleChange]) -> None:
        if self.loop is None or not self.subscribers:
            return
        items = [change_dict(c) for c in runs]
        items += [{"kind": "schedule", "name": s.name, "version": s.version} for s in schedules]
        self.loop.call_soon_threadsafe(self._publish, items)

    def _publish(self, items: list[dict[str, Any]]) -> None:
        for sub in list(self.subscribers):
            wanted = [i for i in items if sub.filter.wants(i)]
            if not wanted:
                continue
            try:
                sub.queue.put_nowait(wanted)
            except asyncio.QueueFull:
                sub.behind = True
        self.sent_batches += 1

    async def stream(self, sub: Subscriber) -> AsyncGenerator[ServerSentEvent, None]:
        self.subscribers.add(sub)
        try:
            yield ServerSentEvent(event="hello", data="{}", retry=2000)
            while True:
                batch = await sub.queue.get()
                if batch is None:
                    return
                if sub.behind:  # dropped batches: the page must reload what it shows
                    sub.behind = False
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    yield ServerSentEvent(event="resync", data="{}")
                    continue
                yield ServerSentEvent(event="changes", data=json.dumps(batch))
        finally:
            self.subscribers.discard(sub)

    def close(self) -> None:
        for sub in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)


@router.get("/events", response_class=EventSourceResponse, dependencies=[allow(Action.READ)])
async def events(
    request: Request,
    run: str | None = None,
    job: str | None = None,
    schedule: str | None = None,
    scheduled: bool = Query(default=False, description="only runs of schedules"),
) -> EventSourceResponse:
    """Run and schedule changes as server-sent events: ``changes`` carries a JSON list of
    changes (``kind`` enqueued, started, finished, closed or schedule); ``resync`` asks the
    page to reload what it shows. An unknown filter is a 422 naming it: ignoring a misspelt
    one would stream every change to a client that asked for a few."""
    unknown = sorted(set(request.query_params) - set(FILTERS))
    if unknown:
        known = ", ".join(FILTERS)
        raise Invalid(
            [{"field": k, "message": f"not a filter (filters: {known})"} for k in unknown]
        )
    hub: LiveHub = request.app.state.live
    sub = Subscriber(Filter(run, job, schedule, scheduled))
    return EventSourceResponse(hub.stream(sub), ping=PING_SECONDS)
