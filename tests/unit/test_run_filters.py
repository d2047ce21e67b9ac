"""Finding runs (filters on the API and the page) and bulk actions that need no broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.runs import NewRun, RunStore
from tests.support.offline import offline_web

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[tuple[TestClient, RunStore]]:
    with offline_web(free_sqlite_url, "bk-filters") as web:
        yield web


def failed(store: RunStore, run: NewRun, error: str, when: datetime) -> None:
    key = AttemptKey(0, 0)
    store.start_attempt(AttemptStarted(run, key, "w1", when))
    store.finish_attempt(AttemptFinished(run, key, Outcome.FAILURE, when, "w1", error=error))


def seed(store: RunStore) -> None:
    """Six runs of every origin, two failed with different errors."""
    runs = [
        (NewRun("m1", "add", "q", {}), at(0)),
        (NewRun("m2", "runs_report", "q", {}, origin="manual"), at(1)),
        (NewRun("s1", "add", "q", {}, schedule="nightly", scheduled_for=at(2)), at(2)),
        (NewRun("n1", "add", "q", {}, schedule="nightly", origin="run_now"), at(3)),
        (NewRun("b1", "add", "q", {}, schedule="nightly", origin="backfill"), at(4)),
        (NewRun("r1", "add", "q", {}, origin="retry"), at(5)),
    ]
    with store.engine.begin() as conn:
        for run, when in runs:
            store.insert_pending(conn, [run], when)
    failed(store, runs[0][0], "ConnectionError: Partner DOWN", at(6))
    failed(store, runs[2][0], "ValueError: 50% off", at(7))


def ids(http: TestClient, **params: str) -> list[str]:
    answer = http.get("/api/runs", params=params)
    assert answer.status_code == 200, answer.text
    return sorted(r["id"] for r in answer.json())


def test_the_runs_api_filters_by_origin_time_range_error_text_and_the_rest(client: Any) -> None:
    http, store = client
    seed(store)
    assert ids(http, origin="schedule") == ["s1"]
    assert ids(http, origin="run_now") == ["n1"] and ids(http, origin="backfill") == ["b1"]
    assert ids(http, origin="manual") == ["m1", "m2"]
    assert ids(http, schedule="nightly", state="PENDING") == ["b1", "n1"]
    assert ids(http, since=at(1).isoformat(), until=at(3).isoformat()) == ["m2", "s1"]
    assert ids(http, since="2026-12-01T12:04:00") == ["b1", "r1"], "no offset: UTC"
    assert ids(http, error="partner down") == ["m1"], "any case"
    assert ids(http, error="50%") == ["s1"], "% is text, not a wildcard"
    assert ids(http, error="%") == ["s1"]
    run = http.get("/api/runs/n1").json()
    assert run["origin"] == "run_now" and run["schedule"] == "nightly"


def test_bad_filters_are_refused_naming_each_field(client: Any) -> None:
    http, _ = client
    answer = http.get("/api/runs", params={"origin": "cron", "since": "yesterday", "state": "DONE"})
    assert answer.status_code == 422
    assert sorted(e["field"] for e in answer.json()["errors"]) == ["origin", "since", "state"]
    backwards = http.get(
        "/api/runs", params={"since": at(2).isoformat(), "until": at(1).isoformat()}
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "until"
    page = http.get("/runs", params={"since": "yesterday"})
    assert page.status_code == 422 and 'name="since" value="yesterday"' in page.text
    assert 'aria-invalid="true"' in page.text


def test_the_runs_page_shows_origin_and_schedule_and_keeps_the_filters(client: Any) -> None:
    http, store = client
    seed(store)
    page = http.get("/runs", params={"schedule": "nightly", "origin": "backfill"})
    assert page.status_code == 200
    assert "b1" in page.text and "n1" not in page.text
    assert '<option value="backfill" selected>' in page.text
    assert "/runs/bulk/retry?schedule=nightly&amp;origin=backfill" in page.text
    assert (
        '<time datetime="2026-12-01T12:04:00.000Z" data-local>2026-12-01 12:04:00 UTC</time>'
        in page.text
    )


def test_a_bulk_cancel_marks_waiting_runs_cancelled_and_leaves_the_others(client: Any) -> None:
    http, store = client
    seed(store)
    refused = http.post("/api/runs/bulk", json={"action": "cancel", "filter": {"job": "add"}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "confirm"
    assert store.get("n1").state == "PENDING", "nothing changed without confirm"
    plan = http.post(
        "/api/runs/bulk", json={"action": "cancel", "filter": {"job": "add"}, "dry_run": True}
    ).json()
    assert (plan["matched"], plan["acted"]) == (5, 3)
    assert store.get("n1").state == "PENDING", "a dry run changes nothing"
    done = http.post(
        "/api/runs/bulk", json={"action": "cancel", "filter": {"job": "add"}, "confirm": True}
    ).json()
    outcomes = {r["id"]: r["outcome"] for r in done["runs"]}
    assert outcomes == {
        "m1": "left alone",
        "s1": "left alone",
        "n1": "cancelled",
        "b1": "cancelled",
        "r1": "cancelled",
    }
    for run_id in ("n1", "b1", "r1"):
        run = store.get(run_id)
        assert (run.state, run.reason) == ("CANCELLED", "cancelled by a bulk action")
        assert run.finished_at is not None
    assert store.get("m2").state == "PENDING", "another job is not matched"


def test_a_bulk_retry_plans_a_redrive_for_dead_letters_and_a_new_attempt_for_failures(
    client: Any,
) -> None:
    http, store = client
    seed(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE runs SET dead_lettered = 1 WHERE id = 's1'")
    plan = http.post(
        "/api/runs/bulk", json={"action": "retry", "filter": {"state": "FAILURE"}, "dry_run": True}
    ).json()
    assert {r["id"]: (r["outcome"], r["detail"]) for r in plan["runs"]} == {
        "m1": ("retried", "sent again as attempt 2"),
        "s1": ("re-driven", "re-driven from its dead-letter queue"),
    }


def test_a_bulk_action_over_the_bound_is_refused_with_the_count(client: Any) -> None:
    http, store = client
    with store.engine.begin() as conn:
        store.insert_pending(conn, [NewRun(f"x{i}", "add", "q", {}) for i in range(501)], at(0))
    answer = http.post("/api/runs/bulk", json={"action": "cancel", "confirm": True})
    assert answer.status_code == 409 and answer.json()["detail"].startswith("501 runs match")
    assert store.get("x0").state == "PENDING"
    unknown = http.post("/api/runs/bulk", json={"action": "cancel", "filter": {"jobs": "add"}})
    assert unknown.status_code == 422, "a misspelt filter field would widen the selection"


def test_the_bulk_pages_confirm_with_the_count_then_say_what_happened_to_each_run(
    client: Any,
) -> None:
    http, store = client
    seed(store)
    confirm = http.get("/runs/bulk/cancel", params={"schedule": "nightly"})
    assert confirm.status_code == 200
    assert "Cancel 2 of 3 matching run(s)?" in confirm.text
    assert store.get("n1").state == "PENDING"
    action = confirm.text.split('<form method="post" action="')[1].split('"')[0]
    assert "until=" in action, "runs enqueued after the confirmation are not included"
    token = confirm.text.split('name="csrf" value="')[1].split('"')[0]
    done = http.post(action.replace("&amp;", "&"), data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 200 and "Cancel: 2 of 3 run(s)" in done.text
    assert store.get("n1").state == "CANCELLED" and store.get("s1").state == "FAILURE"
