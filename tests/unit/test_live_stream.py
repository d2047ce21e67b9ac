"""/api/events: a bad filter is a 422 naming it; a slow subscriber's queue stays bounded and
it is told to resync; a subscriber that goes away is forgotten."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from jobs.store.changes import RunChange
from tests.support.offline import offline_web
from webapp.api.live import QUEUE_BATCHES, Filter, LiveHub, Subscriber

T = TypeVar("T")


def run_in_own_loop(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    # A thread of its own: Playwright's sync API (tests/browser) may hold this thread's loop.
    result: list[T] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    runner.start()
    runner.join(30)
    return result[0]


def change(run: str) -> RunChange:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    return RunChange("finished", run, "add", "q", "SUCCESS", at, number=1, schedule="s")


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    with offline_web(free_sqlite_url, "bk-live") as (web, _):
        yield web


@pytest.mark.parametrize(
    ("query", "field"),
    [("shedule=nightly", "shedule"), ("state=FAILURE", "state"), ("scheduled=maybe", "scheduled")],
)
def test_a_bad_or_unknown_filter_is_a_422_naming_it(
    client: TestClient, query: str, field: str
) -> None:
    with client.stream("GET", f"/api/events?{query}") as response:
        assert response.status_code == 422, "the stream was opened"
        body = json.loads(response.read())
    assert [e["field"] for e in body["errors"]] == [field]


def test_a_subscriber_that_does_not_read_keeps_a_bounded_queue_and_is_told_to_resync() -> None:
    async def scenario() -> tuple[int, list[str | None]]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        slow = Subscriber(Filter())
        stream = hub.stream(slow)
        assert (await anext(stream)).event == "hello"
        for n in range(QUEUE_BATCHES * 3):
            hub._publish([{"kind": "finished", "run": str(n), "job": "j", "schedule": None}])
        size = slow.queue.qsize()
        hub._publish([{"kind": "finished", "run": "last", "job": "j", "schedule": None}])
        events = [(await anext(stream)).event]
        hub.close()
        events += [e.event async for e in stream]
        return size, events

    size, events = run_in_own_loop(scenario)
    assert size == QUEUE_BATCHES
    assert events == ["resync"], "the dropped batches are replaced by one resync"


def test_a_subscriber_whose_stream_closes_is_forgotten() -> None:
    async def scenario() -> tuple[int, int]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        streams = [hub.stream(Subscriber(Filter(run=str(n)))) for n in range(50)]
        for stream in streams:
            await anext(stream)
        during = len(hub.subscribers)
        for stream in streams:
            await stream.aclose()  # what a client disconnect does to the generator
        hub([change("0")], [])  # nobody listens: nothing is queued
        return during, len(hub.subscribers)

    assert run_in_own_loop(scenario) == (50, 0)
