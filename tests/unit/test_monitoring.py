"""The change feed, its metrics, the live hub, /metrics, the dashboard and the runs pager."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from jobs.monitoring.changes import ChangeFeed
from jobs.monitoring.counting import SharedCounts
from jobs.monitoring.metrics import TaskMetrics
from jobs.store import make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.changes import RunChange, StoreChanges
from jobs.store.metric_totals import MetricTotals
from jobs.store.runs import NewRun, RunStore
from tests.support.offline import offline_web
from webapp.api.live import Filter, LiveHub, Subscriber

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lifecycle(store: RunStore, run_id: str, start: float, outcome: Outcome) -> None:
    new = NewRun(run_id, "add", "bk.default", {}, schedule="s", scheduled_for=at(start - 2))
    with store.engine.begin() as conn:
        store.insert_pending(conn, [new], at(start - 1))
    key = AttemptKey(0, 1)
    store.start_attempt(AttemptStarted(new, key, "w1", at(start)))
    store.finish_attempt(AttemptFinished(new, key, outcome, at(start + 0.5), "w1", error="x"))


def test_the_feed_turns_store_changes_into_metrics_once_each(free_sqlite_url: str) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    now = [at(0)]
    changes = StoreChanges(store.engine)
    feed = ChangeFeed(changes, clock=lambda: now[0])
    totals = MetricTotals(store.engine)
    counts = SharedCounts(totals, changes, "web-1", clock=lambda: now[0])
    feed.subscribe(counts)
    registry = CollectorRegistry()
    TaskMetrics(registry, totals, cache_seconds=0)
    seen: list[RunChange] = []
    feed.subscribe(lambda runs, _: seen.extend(runs))
    feed.poll()
    counts.step()  # takes the metrics lease
    lifecycle(store, "a", 1, Outcome.SUCCESS)
    lifecycle(store, "b", 2, Outcome.FAILURE)
    now[0] = at(3)
    feed.poll()
    now[0] = at(4)
    assert feed.poll() == 0, "changes inside the overlap window are not delivered twice"
    counts.step()  # flushes
    text = generate_latest(registry).decode()
    task = 'hostname="w1",name="add",queue_name="bk.default"'

    def bucket(le: str) -> str:
        return f'hostname="w1",le="{le}",name="add",queue_name="bk.default"'

    assert (
        'celery_task_sent_total{hostname="generic",name="add",queue_name="bk.default"} 2.0' in text
    )
    assert f"celery_task_received_total{{{task}}} 2.0" in text
    assert f"celery_task_started_total{{{task}}} 2.0" in text
    assert f"celery_task_succeeded_total{{{task}}} 1.0" in text
    assert f'celery_task_failed_total{{exception="x",{task}}} 1.0' in text
    assert f'celery_task_failed_total{{exception="",{task}}} 0.0' in text, "pre-created"
    assert f"celery_task_revoked_total{{{task}}} 0.0" in text, "pre-created"
    assert f"celery_task_queue_wait_seconds_count{{{task}}} 2.0" in text
    assert 'beatkeeper_schedule_lateness_seconds_sum{schedule="s"} 4.0' in text
    assert f"celery_task_runtime_sum{{{task}}} 1.0" in text
    assert f"celery_task_runtime_bucket{{{bucket('0.5')}}} 2.0" in text
    assert f"celery_task_runtime_bucket{{{bucket('0.25')}}} 0.0" in text
    assert f"celery_task_runtime_bucket{{{bucket('+Inf')}}} 2.0" in text
    assert (
        'beatkeeper_runs_finished_total{name="add",queue_name="bk.default",state="FAILURE"} 1.0'
        in text
    )
    kinds = sorted(c.kind for c in seen)
    assert kinds == ["closed"] * 2 + ["enqueued"] * 2 + ["finished"] * 2 + ["started"] * 2


def test_a_change_committed_late_is_delivered_by_the_next_sweep_once(free_sqlite_url: str) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    now = [at(0)]
    feed = ChangeFeed(StoreChanges(store.engine), clock=lambda: now[0], fast_overlap=0.25)
    feed.poll()
    lifecycle(store, "late", -2, Outcome.SUCCESS)  # times 1.5 to 3 s before it was committed
    counts = []
    for t, step in ((0.5, feed.poll), (1.0, feed.sweep), (1.5, feed.poll), (2.0, feed.sweep)):
        now[0] = at(t)
        counts.append(step())
    assert counts == [0, 4, 0, 0], "missed by the quick look-back, found by the sweep, once"
    lifecycle(store, "on-time", 2.9, Outcome.SUCCESS)
    now[0] = at(3.5)
    assert feed.poll() == 4
    reads: list[object] = []
    source = feed.source
    assert isinstance(source, StoreChanges)
    keys = source.run_change_keys

    def counted(*args: Any, **kwargs: Any) -> list[Any]:
        reads.append(args)
        return keys(*args, **kwargs)

    source.run_change_keys = counted  # type: ignore[method-assign]  # a spy on one instance
    assert feed.sweep() == 0 and reads == [], "counts agree: the sweep reads no key"


def test_a_broken_listener_does_not_stop_the_others(free_sqlite_url: str) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    feed = ChangeFeed(StoreChanges(store.engine), clock=lambda: at(0))
    got: list[int] = []

    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    feed.subscribe(broken)
    feed.subscribe(lambda runs, _: got.append(len(runs)))
    feed.poll()
    lifecycle(store, "a", 1, Outcome.SUCCESS)
    feed.poll()
    assert got == [4]


def test_the_live_hub_sends_each_subscriber_only_what_its_filter_wants() -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        mine, other = Subscriber(Filter(run="a")), Subscriber(Filter(schedule="s2"))
        streams = [hub.stream(mine), hub.stream(other)]
        hellos = [await anext(s) for s in streams]
        assert [h.event for h in hellos] == ["hello", "hello"]
        change = RunChange("finished", "a", "add", "q", "SUCCESS", at(1), number=1, schedule="s")
        threading.Thread(target=hub, args=([change], [])).start()  # as the feed thread does
        first = await asyncio.wait_for(anext(streams[0]), 5)
        hub.close()
        rest = [e async for e in streams[1]]
        return [first], rest

    # A thread of its own: Playwright's sync API (tests/browser) may hold this thread's loop.
    result: list[tuple[list[Any], list[Any]]] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(scenario())))
    runner.start()
    runner.join(30)
    first, rest = result[0]
    assert first[0].event == "changes" and '"run": "a"' in first[0].data
    assert rest == [], "the other subscriber's filter matched nothing"


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[tuple[TestClient, RunStore]]:
    with offline_web(free_sqlite_url, "bk-mon") as web:
        yield web


def test_metrics_expose_schedule_states_the_beat_and_the_management_api(client: Any) -> None:
    http, _ = client
    created = http.post(
        "/api/schedules",
        json={"name": "hourly", "job": "runs_report", "trigger": "cron", "cron": "0 * * * *"},
    )
    assert created.status_code == 201
    page = http.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    text = page.text
    assert 'beatkeeper_schedule_state{schedule="hourly",state="new"} 1.0' in text
    assert 'beatkeeper_schedule_state{schedule="hourly",state="up"} 0.0' in text
    assert "beatkeeper_beat_last_tick_timestamp_seconds" in text
    assert "beatkeeper_management_up" in text
    assert "celery_worker_up" not in text, "no broker: workers are unknown, not down"
    assert "# TYPE celery_task_received_total counter" in text, "read from the store's totals"
    assert "# TYPE celery_task_runtime histogram" in text


def test_the_dashboard_shows_what_it_knows_and_says_unknown_for_the_rest(client: Any) -> None:
    http, _ = client
    page = http.get("/dashboard")
    assert page.status_code == 200
    assert "Unknown: no worker answered" in page.text
    assert 'data-tile="broker"' in page.text and "down" in page.text
    assert "Schedules by health" in page.text and "/static/live.js" in page.text
    assert "No webhook configured" in page.text
    assert http.get("/api/webhook-deliveries").json() == []


def test_the_runs_api_pages_through_every_run_once_with_a_cursor(client: Any) -> None:
    http, store = client
    with store.engine.begin() as conn:
        for i in range(5):
            new = NewRun(f"r{i}", "add", "q", {}, schedule="s" if i % 2 else None)
            store.insert_pending(conn, [new], at(i // 2))  # pairs share an enqueue time
    ids: list[str] = []
    url: str | None = "/api/runs?limit=2"
    while url:
        answer = http.get(url)
        assert answer.status_code == 200
        ids += [r["id"] for r in answer.json()]
        link = answer.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert sorted(ids) == [f"r{i}" for i in range(5)] and len(ids) == 5
    only = http.get("/api/runs", params={"schedule": "s"}).json()
    assert sorted(r["id"] for r in only) == ["r1", "r3"]
    bad = http.get("/api/runs", params={"after": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "after"


def test_the_runs_page_filters_and_links_to_older_runs(client: Any) -> None:
    http, store = client
    with store.engine.begin() as conn:
        store.insert_pending(conn, [NewRun(f"r{i:03}", "add", "q", {}) for i in range(150)], at(0))
    first = http.get("/runs")
    assert first.status_code == 200 and 'rel="next"' in first.text
    older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = http.get(older.replace("&amp;", "&"))
    assert second.status_code == 200 and "r000" in second.text and 'rel="next"' not in second.text
    refused = http.get("/runs", params={"state": "DONE"})
    assert refused.status_code == 422 and "unknown state &#39;DONE&#39;" in refused.text
