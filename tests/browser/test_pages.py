"""The pages in a real browser: the dashboard, schedule health, a run going live to SUCCESS,
and the API docs without internet."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]


def test_the_dashboard_shows_the_stack_and_goes_live(page: Any) -> None:
    page.goto("/dashboard")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator('[data-tile="broker"] .big')).to_have_text("up")
    expect(page.locator('[data-tile="store"] .big')).to_have_text("up")
    expect(page.locator("#live")).to_have_attribute("data-mode", "live")
    # Workers answer Celery's inspect on the whole vhost; ours is among them once it is up.
    for _ in range(10):
        if "browser-" in page.locator('[data-panel="workers"]').inner_text():
            break
        page.wait_for_timeout(1000)
        page.reload()
    expect(page.locator('[data-panel="workers"]')).to_contain_text("browser-")
    assert page.outside_requests == []


def test_the_schedule_list_shows_each_schedules_health(page: Any, stack: str) -> None:
    created = httpx.post(
        f"{stack}/api/schedules",
        json={
            "name": "browser-hourly",
            "job": "runs_report",
            "trigger": "cron",
            "cron": "0 * * * *",
        },
    )
    assert created.status_code == 201, created.text
    httpx.post(f"{stack}/api/schedules/browser-hourly/pause", json={"reason": "browser test"})
    page.goto("/schedules")
    cell = page.locator('[data-health="browser-hourly"] .health')
    expect(cell).to_have_text("paused")
    expect(cell).to_have_class("health health-paused")
    page.goto("/schedules/browser-hourly")
    expect(page.locator("#schedule-state .health")).to_have_text("paused")
    assert page.outside_requests == []


def test_a_run_page_reaches_success_without_a_reload(page: Any, stack: str) -> None:
    page.goto("/runs")  # an open page, to prove the run arrives without navigation
    sent = httpx.post(f"{stack}/api/jobs/runs_report/runs", json={"kwargs": {}})
    assert sent.status_code == 202, sent.text
    run_id = sent.json()["id"]
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#live")).to_have_attribute("data-mode", "live")
    expect(page.locator("#state")).to_have_text("SUCCESS", timeout=30_000)
    page.goto("/runs")
    expect(page.locator("#runs-list")).to_contain_text(run_id[:8])
    assert page.outside_requests == []


def test_the_api_docs_render_with_no_internet(page: Any) -> None:
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Beatkeeper")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.outside_requests == [], "the docs page loaded something from another host"
