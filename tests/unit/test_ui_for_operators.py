"""What a new operator met on the pages (issue 10's walk-through): error pages, one time
format, units, colours, errors beside their boxes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.runs import HELD, NewRun, RunStore
from tests.support.offline import offline_web
from tests.support.pages import invalid_boxes
from webapp.ui.charts import time_chart
from webapp.ui.formatting import reason_at, when

MENU = '<nav aria-label="Main">'
Web = tuple[TestClient, RunStore]


@pytest.fixture
def web(free_sqlite_url: str) -> Iterator[Web]:
    with offline_web(free_sqlite_url, "bk-operator") as found:
        yield found


def csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def cron_schedule(client: TestClient, name: str, cron: str) -> None:
    """A schedule of the ``runs_report`` job, made through the API."""
    body = {"name": name, "job": "runs_report", "trigger": "cron", "cron": cron}
    created = client.post("/api/schedules", json=body)
    assert created.status_code == 201, created.text


def finished(
    store: RunStore, run_id: str, due: datetime, late_s: float, attempts: list[Outcome]
) -> None:
    """A run of schedule ``every-minute`` started ``late_s`` after ``due``, one attempt per
    outcome."""
    run = NewRun(run_id, "runs_report", "q", {}, schedule="every-minute", scheduled_for=due)
    with store.engine.begin() as conn:
        store.insert_pending(conn, [run], due)
    start = due + timedelta(seconds=late_s)
    for number, outcome in enumerate(attempts):
        key = AttemptKey(number, 0)
        store.start_attempt(AttemptStarted(run, key, "w1", start))
        end = start + timedelta(milliseconds=250)
        store.finish_attempt(AttemptFinished(run, key, outcome, end, "w1", error="boom"))
        start = end + timedelta(seconds=1)


def test_a_missing_page_is_a_page_of_the_site_with_its_menu_and_the_reason(web: Web) -> None:
    client, _ = web
    for path, status, says in (
        ("/nope", 404, "not found on the server"),
        ("/runs/nope", 404, "no run &#39;nope&#39;"),
        ("/schedules/nope", 404, "no schedule &#39;nope&#39;"),
        ("/schedules?offset=-5", 400, "offset: must be a whole number"),
        ("/audit?kind=bogus", 400, "kind: one of"),
    ):
        page = client.get(path)
        assert page.status_code == status, path
        assert MENU in page.text, f"{path}: the menu is there to go on from"
        assert says in page.text and 'class="errors" role="alert"' in page.text, path
        assert "style.css" in page.text, f"{path}: styled like every page (dark mode too)"


def test_every_page_names_its_own_icon_so_the_browser_asks_for_no_missing_favicon(
    web: Web,
) -> None:
    client, _ = web
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/runs").text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_a_wrong_runs_filter_is_said_beside_its_box_and_offers_no_bulk_action_or_live_feed(
    web: Web,
) -> None:
    client, _ = web
    page = client.get("/runs", params={"since": "garbage", "state": "BOGUS", "job": "add"})
    assert page.status_code == 422
    boxes = invalid_boxes(page.text)
    assert set(boxes) == {"since", "state"}
    assert "not an ISO 8601 time" in boxes["since"] and "unknown state" in boxes["state"]
    assert "Retry all matching" not in page.text, "a bulk action on a filter that is wrong"
    assert 'id="live"' not in page.text, "no live refresh of a page that answers 422"
    good = client.get("/runs", params={"job": "add"})
    assert good.status_code == 200 and "Retry all matching" in good.text


def test_a_token_form_with_errors_says_each_beside_its_box_and_keeps_the_choices(
    web: Web,
) -> None:
    client, _ = web
    token = csrf(client, "/tokens")
    sent = {"csrf": token, "name": "ci", "scope": ["read", "schedules"], "expires_days": "abc"}
    page = client.post("/tokens", data=sent)
    assert page.status_code == 422
    assert invalid_boxes(page.text) == {"expires_days": "a whole number of days, 1-3650"}
    assert 'value="read" checked' in page.text and 'value="schedules" checked' in page.text
    assert 'value="admin" checked' not in page.text
    assert 'name="expires_days" inputmode="numeric" value="abc"' in page.text
    assert client.post("/tokens", data={**sent, "expires_days": ""}).status_code == 201
    again = client.post("/tokens", data={**sent, "expires_days": ""})
    assert again.status_code == 409
    assert "exists" in invalid_boxes(again.text)["name"], "a taken name, beside the name box"


def test_schedule_pages_show_times_in_the_one_format_and_durations_with_their_unit(
    web: Web,
) -> None:
    client, store = web
    cron_schedule(client, "every-minute", "* * * * *")
    due = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    finished(store, "r1", due, 1.5, [Outcome.SUCCESS])
    listing = client.get("/schedules").text
    assert "(UTC)</th>" not in listing, "no column of bare UTC times"
    row = listing.split('id="schedule-table"')[1]
    assert row.count("data-local>") >= 2, "next and last fire: UTC, and the viewer's zone"
    detail = client.get("/schedules/every-minute").text
    runs = detail.split('id="schedule-runs"')[1]
    assert ">1.50 s</td>" in runs and ">250.0 ms</td>" in runs, "lateness and runtime"
    stamp = due.strftime("%Y-%m-%d %H:%M:%S")
    assert f"{stamp} UTC</time>" in runs, "the scheduled time in the one format"
    upcoming = detail.split('id="schedule-upcoming"')[1].split("</table>")[0]
    shown = re.sub(r"<[^>]+>", "", upcoming)
    assert upcoming.count("data-local>") == 10 and not re.search(r"\dT\d", shown), "no ISO T"


def test_each_attempt_of_a_run_shows_its_outcome_in_its_colour(web: Web) -> None:
    client, store = web
    finished(store, "r2", datetime.now(UTC), 0.1, [Outcome.RETRY, Outcome.FAILURE])
    attempts = client.get("/runs/r2").text.split('id="history"')[1]
    assert '<span class="outcome outcome-retry">RETRY</span>' in attempts
    assert '<span class="outcome outcome-failure">FAILURE</span>' in attempts


def test_a_time_chart_says_what_its_x_axis_measures_and_in_which_zone() -> None:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    points = [(at, 10.0, False), (at + timedelta(minutes=5), 20.0, False)]
    svg = str(time_chart("Lateness", points, x_caption="scheduled time (UTC)"))
    assert '<text class="axis"' in svg and ">scheduled time (UTC)</text>" in svg
    assert ">12-01 12:00</text>" in svg and ">12-01 12:05</text>" in svg


def test_a_fire_already_handed_to_the_broker_is_the_next_fire_on_every_front(
    web: Web,
) -> None:
    client, store = web
    cron_schedule(client, "new-year", "0 0 1 1 *")
    held_for = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    run = NewRun("held", "runs_report", "q", {}, schedule="new-year", scheduled_for=held_for)
    with store.engine.begin() as conn:  # as the beat does ahead of the due time
        store.insert_pending(conn, [run], datetime.now(UTC))
    page = client.get("/schedules/new-year").text
    stamp = f"{held_for:%Y-%m-%d %H:%M:%S} UTC</time>"
    state = page.split('id="schedule-state"')[1].split("</dl>")[0]
    iso = held_for.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert f'Next fire</dt><dd><time datetime="{iso}" data-local>' + stamp in state
    upcoming = page.split('id="schedule-upcoming"')[1].split("</table>")[0]
    assert upcoming.index(stamp) < upcoming.index("-01-01 00:00:00 UTC</time>")
    assert upcoming.count("data-local>") == 10, "still ten fires"

    listing = client.get("/schedules").text
    row = listing.split('data-health="new-year"')[1].split("</tr>")[0]
    assert f'<time datetime="{iso}" data-local>' + stamp in row, "the list's next fire"
    (listed,) = [x for x in client.get("/api/schedules").json() if x["name"] == "new-year"]
    detail = client.get("/api/schedules/new-year").json()
    for shown in (listed, detail):
        assert datetime.fromisoformat(shown["next_fire_at"]) == held_for
    assert datetime.fromisoformat(detail["upcoming"][0]["utc"]) == held_for
    assert len(detail["upcoming"]) == 10


def test_the_forms_live_preview_answers_200_with_the_error_inside_while_a_cron_is_half_typed(
    web: Web,
) -> None:
    client, _ = web
    form = client.get("/schedules/new").text
    assert 'data-url="/schedules/new/preview"' in form
    half = client.get("/schedules/new/preview", params={"cron": "61 *"})
    assert half.status_code == 200, "a 4xx here is a console error per keystroke"
    assert 'class="field-error"' in half.text and "<code>cron</code>" in half.text
    good = client.get(
        "/schedules/new/preview", params={"cron": "0 9 * * *", "timezone": "Asia/Tokyo"}
    )
    assert good.status_code == 200 and "Runs at 09:00" in good.text
    assert good.text.count("<li>") == 5 and good.text.count(" JST · 00:00:00 UTC") == 5
    blank = client.get("/schedules/new/preview", params={"cron": " "})
    assert "Fill in the trigger" in blank.text
    assert client.get("/schedules/new/preview", params={"schedule": "nope"}).status_code == 404


def test_a_run_cancelled_before_it_started_says_so_with_its_reason(web: Web) -> None:
    client, store = web
    now = datetime.now(UTC)
    run = NewRun("never", "runs_report", "q", {})
    with store.engine.begin() as conn:
        store.insert_pending(conn, [run], now)
    assert store.cancel(["never"], ["PENDING"], "cancelled by a bulk action", now) == ["never"]
    page = client.get("/runs/never").text
    assert '<dd id="reason">cancelled by a bulk action</dd>' in page
    assert "None: it ended without starting." in page and "No attempt yet" not in page


def test_a_dead_letters_time_is_shown_in_the_one_format() -> None:
    assert str(when("2026-12-03T07:05:13")) == (
        '<time datetime="2026-12-03T07:05:13.000Z" data-local>2026-12-03 07:05:13 UTC</time>'
    ), "x-death's time (AMQP timestamps are UTC)"
    assert str(when("2026-12-03T08:05:13+01:00")).endswith(">2026-12-03 07:05:13 UTC</time>")
    assert str(when("soon <b>")) == "soon &lt;b&gt;" and str(when("", "—")) == "—"


def test_a_fire_sent_ahead_that_is_due_and_still_waits_says_so_not_that_it_is_held(
    web: Web,
) -> None:
    client, store = web
    now = datetime.now(UTC)
    due = now - timedelta(seconds=30)
    run = NewRun("late", "runs_report", "q", {}, schedule="every-minute", scheduled_for=due)
    with store.engine.begin() as conn:  # the beat sent it 10 s ahead; no worker took it yet
        store.insert_pending(conn, [run], due - timedelta(seconds=10), reason=HELD, held=True)
    record = store.get("late")
    assert record is not None and record.held, "the store flags a fire sent ahead"
    assert reason_at(record, due - timedelta(seconds=5)) == record.reason, "before it is due"
    assert (reason_at(record, now) or "").startswith("due, waiting for a worker")
    page = client.get("/runs/late").text
    assert '<dd id="reason">due, waiting for a worker' in page


def test_the_runs_table_puts_the_state_beside_the_run_so_a_phone_shows_it(web: Web) -> None:
    client, store = web
    with store.engine.begin() as conn:
        store.insert_pending(conn, [NewRun("r3", "runs_report", "q", {})], datetime.now(UTC))
    page = client.get("/runs").text
    assert "<th>Run</th><th>State</th><th>Job</th>" in page
    row = page.split('href="/runs/r3"')[1].split("</tr>")[0]
    assert row.index("state-PENDING") < row.index('href="/jobs/runs_report"')
    assert "Enqueued from (UTC)" in page and "until (UTC)" in page, "naive times are UTC"
