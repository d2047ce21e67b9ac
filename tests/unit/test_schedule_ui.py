"""The schedule pages, through the same ASGI app as in production (no broker reachable)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.services.schedules import ScheduleManager, ScheduleNotFoundError
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support.pages import SUMMARY_ITEM, invalid_boxes, schedule_form
from webapp.asgi import create_app
from webapp.settings import WebSettings


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    env = settings_env("bk-sched-ui", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        yield test_client


@pytest.fixture
def manager(client: TestClient) -> ScheduleManager:
    schedules: ScheduleManager = client.app.state.schedules  # type: ignore[attr-defined]  # ASGI app
    return schedules


def csrf(client: TestClient, path: str = "/schedules/new") -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, "the page carries a CSRF token"
    return match.group(1)


def field_errors(page: str) -> list[str]:
    return re.findall(SUMMARY_ITEM, page)


def nightly(manager: ScheduleManager, name: str = "nightly", **fields: Any) -> None:
    values = {"job": "runs_report", "trigger": "cron", "cron": "0 3 * * *", **fields}
    manager.create(ScheduleDefinition(name=name, **values), "test")


def test_the_schedules_page_lists_each_schedule_with_its_trigger_state_and_counts(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager, timezone="Europe/Paris")
    nightly(manager, name="every-ten-minutes", trigger="interval", cron=None, interval_seconds=600)
    record = manager.get("nightly")
    assert record.next_fire_at is not None

    page = client.get("/schedules")

    assert page.status_code == 200
    assert 'href="/schedules/nightly"' in page.text
    assert 'href="/schedules/every-ten-minutes"' in page.text
    assert "cron 0 3 * * *" in page.text and "every 600 s (10 min)" in page.text
    assert "Europe/Paris" in page.text and 'class="health health-new"' in page.text
    assert f"{record.next_fire_at:%Y-%m-%d %H:%M:%S}" in page.text
    assert 'href="/schedules/new"' in page.text and "New schedule" in page.text
    assert 'href="/schedules"' in client.get("/").text, "the nav links to the schedules"


def test_a_schedule_created_with_the_form_shows_its_next_ten_fires_in_its_zone_and_in_utc(
    client: TestClient, manager: ScheduleManager
) -> None:
    data = schedule_form(csrf=csrf(client), timezone="Europe/Paris", kwargs='{"hours": 2}')

    created = client.post("/schedules/new", data=data, follow_redirects=False)

    assert created.status_code == 302
    assert created.headers["location"] == "/schedules/paris-report"
    record = manager.get("paris-report")
    assert (record.timezone, record.kwargs, record.changed_by) == (
        "Europe/Paris",
        {"hours": 2},
        "anonymous@loopback",
    ), "who changed it is the principal (open development here), not a form field"
    page = client.get("/schedules/paris-report").text
    page = page.split('id="schedule-upcoming"')[1].split("</table>")[0]  # the next fires
    wall = r'(\d{4}-\d\d-\d\d) 09:00:00 <span class="muted">\w{3} (CET|CEST)'
    local_times = re.findall(wall, page)
    utc_times = re.findall(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:00:00).000Z" data-local>', page)
    assert len(local_times) == 10 and len(utc_times) == 10
    paris = ZoneInfo("Europe/Paris")
    for (day, zone), utc in zip(local_times, utc_times, strict=True):
        instant = datetime.fromisoformat(utc).replace(tzinfo=UTC).astimezone(paris)
        assert (instant.date().isoformat(), instant.hour, instant.tzname()) == (day, 9, zone)


def test_a_one_off_time_from_the_form_is_read_as_wall_time_in_the_chosen_timezone(
    client: TestClient, manager: ScheduleManager
) -> None:
    token = csrf(client)
    local = schedule_form(csrf=token, name="once-local", trigger="once", run_at="2031-01-15T09:30")
    local.update(timezone="Europe/Paris")
    with_offset = schedule_form(csrf=token, name="once-iso", trigger="once")
    with_offset.update(run_at="2031-01-15T09:30:00-05:00")

    assert client.post("/schedules/new", data=local, follow_redirects=False).status_code == 302
    assert (
        client.post("/schedules/new", data=with_offset, follow_redirects=False).status_code == 302
    )

    assert manager.get("once-local").run_at == datetime(2031, 1, 15, 8, 30, tzinfo=UTC)
    assert manager.get("once-iso").run_at == datetime(2031, 1, 15, 14, 30, tzinfo=UTC)
    assert manager.get("once-local").cron is None, "the other triggers' fields are cleared"


def test_invalid_form_input_is_shown_again_with_every_field_named_and_nothing_stored(
    client: TestClient, manager: ScheduleManager
) -> None:
    token = csrf(client)
    bad_cron = schedule_form(csrf=token, cron="61 * * * *", timezone="Mars/Base", kwargs="{nope")
    bad_cron.update(jitter_seconds="1.5")
    negative = schedule_form(csrf=token, trigger="interval", interval_seconds="-5")
    not_a_number = schedule_form(csrf=token, trigger="interval", interval_seconds="ten")
    bad_zone = schedule_form(
        csrf=token, trigger="interval", interval_seconds="60", timezone="Nowhere/X"
    )

    page = client.post("/schedules/new", data=bad_cron)

    assert page.status_code == 422
    assert set(field_errors(page.text)) == {"cron", "timezone", "kwargs", "jitter_seconds"}
    assert 'value="61 * * * *"' in page.text and 'value="Mars/Base"' in page.text
    assert ">{nope</textarea>" in page.text, "the user's input is kept"
    beside = invalid_boxes(page.text)
    assert set(beside) == {"cron", "timezone", "kwargs", "jitter_seconds"}
    assert "Mars/Base" in beside["timezone"]
    negative_page = client.post("/schedules/new", data=negative)
    assert negative_page.status_code == 422
    assert any(f.startswith("interval") for f in field_errors(negative_page.text))
    number_page = client.post("/schedules/new", data=not_a_number)
    assert number_page.status_code == 422
    assert "<code>interval_seconds</code>: must be a whole number" in number_page.text
    zone_page = client.post("/schedules/new", data=bad_zone)
    assert zone_page.status_code == 422 and field_errors(zone_page.text) == ["timezone"]
    skipped = schedule_form(
        csrf=token, trigger="once", run_at="2031-03-30T02:30", timezone="Europe/Paris"
    )
    skipped_page = client.post("/schedules/new", data=skipped)
    assert skipped_page.status_code == 422 and field_errors(skipped_page.text) == ["run_at"]
    assert "the clocks skip it" in skipped_page.text
    assert manager.page() == []


def test_a_second_schedule_with_the_same_name_is_refused_with_409_and_the_form_kept(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager, name="paris-report")

    page = client.post("/schedules/new", data=schedule_form(csrf=csrf(client), cron="5 5 * * *"))

    assert page.status_code == 409
    assert "<code>name</code>" in page.text and 'value="5 5 * * *"' in page.text
    assert manager.get("paris-report").cron == "0 3 * * *"


def test_schedule_form_posts_without_their_csrf_token_are_refused(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)

    assert client.post("/schedules/new", data=schedule_form()).status_code == 400
    assert client.post("/schedules/nightly/pause", data={"csrf": "stale"}).status_code == 400
    assert client.post("/schedules/nightly/delete", data={}).status_code == 400
    assert (
        client.post("/schedules/nightly/edit", data=schedule_form(cron="1 1 * * *")).status_code
        == 400
    )

    assert [s.name for s in manager.page()] == ["nightly"]
    record = manager.get("nightly")
    assert record.enabled and record.cron == "0 3 * * *"


def test_editing_prefills_the_form_and_saves_the_submitted_definition(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager, timezone="Europe/Paris", kwargs={"hours": 5})
    edit = client.get("/schedules/nightly/edit")
    assert edit.status_code == 200
    assert 'value="0 3 * * *"' in edit.text and 'value="Europe/Paris"' in edit.text
    assert "&#34;hours&#34;: 5" in edit.text

    data = schedule_form(
        csrf=csrf(client), trigger="interval", interval_seconds="900", reason="less often"
    )
    data.update(timezone="Europe/Paris", kwargs='{"hours": 5}', changed_by="carol")
    saved = client.post("/schedules/nightly/edit", data=data, follow_redirects=False)

    assert saved.status_code == 302
    record = manager.get("nightly")
    assert (record.trigger, record.interval_seconds, record.cron) == ("interval", 900, None)
    assert (record.changed_by, record.change_reason, record.version) == (
        "anonymous@loopback (claimed: carol)",
        "less often",
        2,
    )


def test_pausing_then_resuming_changes_the_state_and_records_who_and_why(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)
    token = csrf(client, "/schedules/nightly")

    paused = client.post(
        "/schedules/nightly/pause",
        data={"csrf": token, "changed_by": "alice", "reason": "database maintenance"},
        follow_redirects=True,
    )

    record = manager.get("nightly")
    assert (record.enabled, record.next_fire_at) == (False, None)
    assert (record.changed_by, record.change_reason) == (
        "anonymous@loopback (claimed: alice)",
        "database maintenance",
    )
    assert paused.status_code == 200
    assert "paused" in paused.text and "alice" in paused.text
    assert "database maintenance" in paused.text and ">Resume</button>" in paused.text
    assert "nothing will fire until it is resumed" in paused.text

    resumed = client.post(
        "/schedules/nightly/resume",
        data={"csrf": token, "changed_by": "bob", "reason": "done"},
        follow_redirects=True,
    )

    record = manager.get("nightly")
    assert record.enabled and record.next_fire_at is not None
    assert (record.changed_by, record.change_reason) == (
        "anonymous@loopback (claimed: bob)",
        "done",
    )
    assert ">Pause</button>" in resumed.text and "bob" in resumed.text


def test_deleting_a_schedule_removes_it_from_the_list(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)

    deleted = client.post(
        "/schedules/nightly/delete", data={"csrf": csrf(client)}, follow_redirects=False
    )

    assert deleted.status_code == 302 and deleted.headers["location"] == "/schedules"
    assert 'href="/schedules/nightly"' not in client.get("/schedules").text
    assert client.get("/schedules/nightly").status_code == 404
    with pytest.raises(ScheduleNotFoundError):
        manager.get("nightly")


def test_backfill_reports_how_many_fires_were_sent_and_names_bad_times(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)
    token = csrf(client)

    none_due = client.post(
        "/schedules/nightly/backfill",
        data={"csrf": token, "start": "2026-01-01T04:00:00Z", "end": "2026-01-01T05:00+00:00"},
        follow_redirects=True,
    )
    bad = client.post(
        "/schedules/nightly/backfill",
        data={"csrf": token, "start": "2026-01-01T04:00", "end": "tomorrow"},
    )

    assert none_due.status_code == 200 and "sent 0 fires" in none_due.text
    assert bad.status_code == 422 and field_errors(bad.text) == ["start", "end"]
    assert 'value="tomorrow"' in bad.text
    assert set(invalid_boxes(bad.text)) == {"start", "end"}
    backfill_section = bad.text.split('id="backfill"')[1]
    assert field_errors(backfill_section) == ["start", "end"], "the errors are where the form is"


def test_run_now_with_the_broker_down_says_so_and_stores_no_run(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)

    page = client.post("/schedules/nightly/run", data={"csrf": csrf(client)})

    assert page.status_code == 503
    assert "<code>broker</code>: not sent, nothing stored" in page.text
    assert manager.app.store.list() == []


def test_unknown_schedules_are_404(client: TestClient) -> None:
    token = csrf(client)
    assert client.get("/schedules/nope").status_code == 404
    assert client.get("/schedules/nope/edit").status_code == 404
    assert client.post("/schedules/nope/edit", data=schedule_form(csrf=token)).status_code == 404
    for action in ("pause", "resume", "delete", "run"):
        assert client.post(f"/schedules/nope/{action}", data={"csrf": token}).status_code == 404
    backfill = {"csrf": token, "start": "2026-01-01T00:00Z", "end": "2026-01-02T00:00Z"}
    assert client.post("/schedules/nope/backfill", data=backfill).status_code == 404


def test_a_pause_reason_that_is_too_long_is_shown_beside_it_and_kept(
    client: TestClient, manager: ScheduleManager
) -> None:
    nightly(manager)
    reason = "x" * 2001

    page = client.post(
        "/schedules/nightly/pause",
        data={"csrf": csrf(client), "changed_by": "alice", "reason": reason},
    )

    assert page.status_code == 422
    assert set(invalid_boxes(page.text)) == {"reason"}
    assert f'value="{reason}"' in page.text and 'value="alice"' in page.text
    assert manager.get("nightly").enabled


def test_the_form_previews_a_cron_expression_in_words_with_its_next_fires(
    client: TestClient,
) -> None:
    answer = client.get(
        "/api/triggers/preview",
        params={"cron": "30 9 * * MON-FRI", "timezone": "Europe/Paris", "count": "3"},
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "Monday to Friday" in body["description"] and "Europe/Paris" in body["description"]
    assert len(body["fires"]) == 3
    for fire in body["fires"]:
        local = datetime.fromisoformat(fire["local"])
        assert (local.hour, local.minute) == (9, 30) and local.isoweekday() <= 5
        assert datetime.fromisoformat(fire["utc"]) == local


def test_a_preview_of_a_bad_trigger_is_a_422_naming_the_field(client: TestClient) -> None:
    bad_cron = client.get("/api/triggers/preview", params={"cron": "61 * * * *"})
    bad_count = client.get("/api/triggers/preview", params={"cron": "* * * * *", "count": "x"})
    no_interval = client.get("/api/triggers/preview", params={"trigger": "interval"})

    assert bad_cron.status_code == 422
    assert [e["field"] for e in bad_cron.json()["errors"]] == ["cron"]
    assert bad_count.status_code == 422
    assert bad_count.json()["errors"] == [{"field": "count", "message": "must be a whole number"}]
    assert no_interval.status_code == 422
    assert [e["field"] for e in no_interval.json()["errors"]] == ["interval_seconds"]


def test_the_preview_of_an_edited_interval_keeps_the_stored_grid(
    client: TestClient, manager: ScheduleManager
) -> None:
    anchor = datetime(2026, 1, 1, 0, 0, 17, tzinfo=UTC)
    nightly(manager, trigger="interval", cron=None, interval_seconds=60, anchor=anchor)
    query = {"trigger": "interval", "interval_seconds": "60", "schedule": "nightly"}

    answer = client.get("/api/triggers/preview", params=query)
    unknown = client.get("/api/triggers/preview", params={**query, "schedule": "nope"})

    assert answer.status_code == 200, answer.text
    assert {datetime.fromisoformat(f["utc"]).second for f in answer.json()["fires"]} == {17}
    assert unknown.status_code == 404


def test_without_javascript_the_preview_button_shows_the_fires_and_stores_nothing(
    client: TestClient, manager: ScheduleManager
) -> None:
    fresh = client.get("/schedules/new")
    page = client.post(
        "/schedules/new",
        data=schedule_form(csrf=csrf(client), cron="0 6 1 * *", preview="yes"),
    )

    assert "Fill in the trigger to see when it fires." in fresh.text
    assert page.status_code == 200
    assert "Runs at 06:00 on day 1 of the month" in page.text
    assert page.text.count("06:00:00</time>") == 5
    assert manager.page() == []
