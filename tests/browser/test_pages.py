"""The pages in a real browser, as a person uses them: forms, live pages, the dead-letter
re-drive, a phone-sized screen, dark mode, and the API docs without internet."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, OpenPage, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
PHONE = {"width": 390, "height": 844}
RUN_PAGE = re.compile(r"/runs/([0-9a-f-]{36})")


def stays_on_this_document(page: Any) -> None:
    """Marks the loaded document; :func:`was_not_reloaded` then proves no navigation."""
    page.evaluate("window.__sameDocument = true")


def was_not_reloaded(page: Any) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_a_person_signs_in_and_lands_on_the_page_they_asked_for(open_page: OpenPage) -> None:
    page = open_page(signed_in_already=False)
    page.goto("/schedules")
    expect(page).to_have_url(re.compile(r"/login\?next="))

    sign_in(page, password="not " + PASSWORD)
    expect(page.get_by_role("alert")).to_contain_text("Wrong name or password")
    sign_in(page)

    expect(page).to_have_url(re.compile(r"/schedules$"))
    expect(page.locator("h1")).to_have_text("Schedules")
    expect(page.locator("nav")).to_contain_text("browser (admin)")


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
    expect(page.locator('[data-panel="workers"] h2')).to_have_text(re.compile(r"\d+ online$"))
    assert page.outside_requests == []


def test_a_job_enqueued_from_the_form_reaches_success_on_its_run_page_without_a_reload(
    page: Any,
) -> None:
    page.goto("/jobs/runs_report")
    page.get_by_label("hours").fill("2")
    page.get_by_label("queue").select_option("default")
    page.get_by_role("button", name="Enqueue").click()

    expect(page).to_have_url(RUN_PAGE)
    stays_on_this_document(page)
    expect(page.locator("#state")).to_have_text("SUCCESS", timeout=30_000)
    expect(page.locator("#state")).to_have_class("state state-SUCCESS")
    assert was_not_reloaded(page)
    assert page.outside_requests == []


def test_an_enqueue_error_is_shown_beside_its_field_with_the_queue_kept(page: Any) -> None:
    page.goto("/jobs/runs_report")
    page.get_by_label("hours").fill("0")
    page.get_by_label("queue").select_option("slow")
    page.get_by_role("button", name="Enqueue").click()

    hours = page.get_by_label("hours")
    expect(hours).to_have_attribute("aria-invalid", "true")
    expect(hours).to_have_accessible_description(re.compile("greater than or equal to 1"))
    expect(page.get_by_label("queue")).to_have_value("slow")


def test_a_failing_job_retries_then_is_dead_lettered_and_is_re_driven_from_the_ui(
    page: Any,
) -> None:
    page.goto("/jobs/always_fails")
    page.get_by_label("key").fill("browser")
    page.get_by_role("button", name="Enqueue").click()
    expect(page).to_have_url(RUN_PAGE)
    found = RUN_PAGE.search(page.url)
    assert found, page.url
    run_id = found[1]
    stays_on_this_document(page)

    history = page.locator("#history tr")
    expect(history).to_have_count(3, timeout=30_000)  # max_retries=2: three attempts
    expect(page.locator("#state")).to_have_text("FAILURE", timeout=30_000)
    expect(page.locator("#dead")).to_be_visible()
    headers = page.locator("#history").locator("xpath=..").locator("th").all_inner_texts()
    column = [h.strip().lower() for h in headers].index("outcome")
    outcomes = [history.nth(i).locator("td").nth(column).inner_text() for i in range(3)]
    assert [o.lower() for o in outcomes] == ["retry", "retry", "failure"], outcomes
    assert was_not_reloaded(page)

    page.goto("/deadletters/default")
    page.locator(f'input[name="ids"][value="{run_id}"]').check()
    page.get_by_role("button", name="Re-drive selected").click()
    expect(page.locator(".flash")).to_contain_text("re-driven 1 message(s)")
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#history tr")).not_to_have_count(3, timeout=30_000)  # it ran again
    assert page.outside_requests == []


def test_a_schedule_made_in_the_form_previews_fires_arrives_live_and_pauses_with_a_reason(
    page: Any,
) -> None:
    page.goto("/schedules/new")
    page.get_by_label("name *").fill("browser-every-5s")
    page.get_by_label("job *").select_option("runs_report")
    page.get_by_label("cron").press_sequentially("*/5 * * * * *", delay=20)

    preview = page.locator("#preview")
    expect(preview.locator(".description")).to_contain_text("every 5 seconds")
    expect(preview.locator("ol.fires li")).to_have_count(5)
    page.get_by_role("button", name="Create schedule").click()

    expect(page).to_have_url(re.compile(r"/schedules/browser-every-5s$"))
    stays_on_this_document(page)
    expect(page.locator("#live")).to_have_attribute("data-mode", "live")
    first = page.locator("#schedule-runs .state-SUCCESS").first
    expect(first).to_be_visible(timeout=40_000)
    expect(page.locator("#schedule-state .health")).to_have_text("up", timeout=15_000)
    assert was_not_reloaded(page), "the first fire arrived without a reload"

    page.get_by_label("reason").fill("database maintenance")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#schedule-state .health")).to_have_text("paused")
    expect(page.locator("#schedule-state .health")).to_have_class(re.compile("health-paused"))
    expect(page.locator("#schedule-state")).to_contain_text("database maintenance")
    page.goto("/schedules")
    expect(page.locator('[data-health="browser-every-5s"] .health')).to_have_text("paused")
    assert page.outside_requests == []


def test_no_page_scrolls_sideways_on_a_390_px_phone_and_the_menu_folds(
    open_page: OpenPage,
) -> None:
    page = open_page(viewport=PHONE)
    page.goto("/")
    # Every page the menu leads to (our own, not the API docs), and one of each detail page.
    menu = page.locator("#nav-links a[href^='/']:not([href^='/api'])")
    paths = [menu.nth(i).get_attribute("href") for i in range(menu.count())]
    paths += ["/jobs/runs_report", "/schedules/new", "/deadletters/default"]
    for listing, link in (
        ("/runs", "#runs-list a[href^='/runs/']"),
        ("/schedules", "#schedule-table a[href^='/schedules/']"),
    ):
        page.goto(listing)
        first = page.locator(link).first
        if first.count():
            paths.append(first.get_attribute("href"))
    assert len(paths) >= 8, paths  # the menu was found
    wide = {}
    for path in paths:
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            wide[path] = width
    assert wide == {}, f"pages wider than the phone: {wide}"

    runs = page.get_by_role("link", name="Runs", exact=True)
    expect(runs).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(runs).to_be_visible()


def test_dark_mode_follows_the_systems_colour_scheme(open_page: OpenPage) -> None:
    def colours(scheme: str) -> tuple[str, str]:
        page = open_page(color_scheme=scheme)
        page.goto("/schedules")
        body = page.evaluate("getComputedStyle(document.body).backgroundColor")
        table = page.evaluate("getComputedStyle(document.querySelector('table')).color")
        return body, table

    light, dark = colours("light"), colours("dark")

    assert light[0] == "rgb(250, 251, 252)"
    assert dark[0] == "rgb(13, 17, 23)"
    assert light[1] != dark[1], "text changes with the background"


def test_keyboard_focus_is_visible_on_links_and_form_boxes(page: Any) -> None:
    page.goto("/jobs/runs_report")
    seen: list[list[str]] = []
    while len(seen) < 40 and not (seen and seen[-1][0] == "INPUT"):  # the menu, then the form
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                "(() => { const s = getComputedStyle(document.activeElement);"
                " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; })()"
            )
        )
    tags = {tag for tag, _, _ in seen}
    assert {"A", "INPUT"} <= tags, seen
    assert all(style == "solid" and width == "3px" for _, style, width in seen), seen


def test_the_api_docs_render_with_no_internet(page: Any) -> None:
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Beatkeeper")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.outside_requests == [], "the docs page loaded something from another host"


def test_schedule_times_show_the_viewers_zone_and_utc_and_the_list_fits_a_1280_px_screen(
    open_page: OpenPage,
) -> None:
    page = open_page(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
    page.goto("/schedules")  # the code schedules of jobs.examples are always there
    both = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (EST|GMT-5) · \d\d:\d\d:\d\d UTC$")
    row = page.locator("#schedule-table tr", has_text="nightly-cleanup")  # never paused
    expect(row.locator("time").first).to_have_text(both)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1280, f"the schedules list is {width} px wide"

    row.get_by_role("link", name="nightly-cleanup").click()
    expect(page.locator("#schedule-upcoming time").first).to_have_text(both)
    expect(page.locator("#schedule-state time").first).to_have_text(both)


def test_chart_axis_text_is_readable_on_a_desktop_and_on_a_phone(open_page: OpenPage) -> None:
    page = open_page()
    page.goto("/jobs/runs_report")
    page.get_by_role("button", name="Enqueue").click()
    expect(page.locator("#state")).to_have_text("SUCCESS", timeout=30_000)

    for options in ({"viewport": {"width": 1280, "height": 900}}, {"viewport": PHONE}):
        page = open_page(**options)
        page.goto("/jobs/runs_report")
        tick = page.locator("#job-charts svg.chart text.tick").first
        expect(tick).to_be_visible()
        # Measured in the page in one step: the live region may swap the chart in between a
        # locator's resolution and a separate bounding_box() call (CI saw None).
        height = tick.evaluate("e => e.getBoundingClientRect().height")
        assert height >= 11, f"axis text {height} px high at {options}"
        axis = page.locator("#job-charts svg.chart text.axis").first
        expect(axis).to_have_text(re.compile(r"\(UTC\)$"))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= options["viewport"]["width"], "the chart scrolls in its box, not the page"
