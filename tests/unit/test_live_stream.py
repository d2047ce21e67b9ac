"""/api/events: a bad filter is a 422 naming it; a slow subscriber's queue stays bounded and
it is told to resync; a subscriber that goes away is forgotten; the feed behind it survives
the store going away and delivers what was committed meanwhile."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from jobs.monitoring.changes import ChangeFeed, ChangeSource
from jobs.store import make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.changes import RunChange, StoreChanges
from jobs.store.runs import NewRun, RunStore
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


class Outage:
    """The store's change reads, failing as a dropped database connection does while
    ``down``."""

    def __init__(self, source: ChangeSource) -> None:
        self.source = source
        self.down = False

    def __getattr__(self, name: str) -> Any:
        read = getattr(self.source, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise OperationalError(
                    "SELECT", {}, ConnectionError("server closed the connection")
                )
            return read(*args, **kwargs)

        return call


def test_the_feed_delivers_what_was_committed_while_it_could_not_read_the_store(
    free_sqlite_url: str,
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    now = [t0]
    source = Outage(StoreChanges(store.engine))
    feed = ChangeFeed(cast(ChangeSource, source), clock=lambda: now[0])
    seen: list[tuple[str, str]] = []
    feed.subscribe(lambda runs, _: seen.extend((c.run_id, c.kind) for c in runs))
    feed.poll()
    source.down = True
    new = NewRun("a", "add", "q", {}, schedule="s", scheduled_for=t0)
    with store.engine.begin() as conn:
        store.insert_pending(conn, [new], t0 + timedelta(seconds=1))
    store.start_attempt(AttemptStarted(new, AttemptKey(0, 1), "w1", t0 + timedelta(seconds=2)))
    finished = AttemptFinished(
        new, AttemptKey(0, 1), Outcome.SUCCESS, t0 + timedelta(seconds=3), "w1"
    )
    store.finish_attempt(finished)
    for seconds in (5, 60):  # a minute without the store: every poll fails
        now[0] = t0 + timedelta(seconds=seconds)
        with pytest.raises(OperationalError):
            feed.poll()
    source.down = False
    now[0] = t0 + timedelta(seconds=61)
    assert feed.poll() >= 3
    assert {kind for run, kind in seen if run == "a"} >= {"enqueued", "started", "finished"}
    assert feed.poll() == 0, "delivered once"
