"""Schedule pages: the list, one schedule with its next fires, the create/edit form, actions.

Routes stay thin: they parse the form (strictly: bad JSON or a non-integer is an error named
after its field, as in the API), call the ScheduleManager, and render. Validation itself lives
in the manager; nothing is stored unless every field is valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.schedules.cron_describe import describe_stored
from jobs.schedules.definition import CATCH_UP, OVERLAP, TRIGGERS, ScheduleDefinition
from jobs.services.health import beat_status
from jobs.services.schedules import ScheduleError, ScheduleManager
from jobs.store.schedules import ScheduleRecord
from webapp.ui.errors import show_errors_with
from webapp.ui.forms import csrf_ok
from webapp.ui.resources import ui_resources
from webapp.ui.schedule_form import (
    DEFAULTS,
    LOCAL_INPUT,
    Errors,
    ErrorsIn,
    ParsedForm,
    in_form_order,
    other_errors,
    parse_instant,
    parse_schedule_form,
    parse_who,
    zone_of,
)

bp = Blueprint("schedules", __name__)

PAGE_SIZE = 100
Page = str | tuple[str, int] | Response


def manager() -> ScheduleManager:
    return ui_resources().schedules


def _posted_form() -> dict[str, str]:
    form = request.form.to_dict()
    if not csrf_ok(form.get("csrf")):
        abort(400, "missing or stale form token; reload the page and submit again")
    return form


# -- template helpers ------------------------------------------------------------------------
@bp.app_template_filter("schedule_trigger")
def trigger_text(record: ScheduleRecord) -> str:
    """How a schedule fires, in a few words."""
    if record.trigger == "cron":
        return f"cron {record.cron}"
    if record.trigger == "interval" and record.interval_seconds is not None:
        seconds = record.interval_seconds
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"every {seconds} s ({seconds // size} {unit})"
        return f"every {seconds} s"
    if record.trigger == "once" and record.run_at is not None:
        return f"once at {record.run_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return record.trigger


@bp.app_template_filter("schedule_description")
def description_of(record: ScheduleRecord) -> tuple[str, list[str]]:
    """The schedule in plain language, and notes on what may surprise."""
    return describe_stored(record.build_trigger, datetime.now(UTC))


@bp.app_template_filter("utc_time")
def utc_time(value: datetime | None) -> str:
    return "—" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def form_of(record: ScheduleRecord) -> dict[str, str]:
    """The edit form, prefilled from the stored schedule (run_at as wall time in its zone)."""
    zone = zone_of(record.timezone) or ZoneInfo("UTC")
    run_at = record.run_at.astimezone(zone).strftime(LOCAL_INPUT) if record.run_at else ""
    optional = {
        "cron": record.cron,
        "interval_seconds": record.interval_seconds,
        "expires_seconds": record.expires_seconds,
        "grace_seconds": record.grace_seconds,
        "queue": record.queue,
    }
    return {
        "job": record.job,
        "trigger": record.trigger,
        "timezone": record.timezone,
        "run_at": run_at,
        "kwargs": json.dumps(record.kwargs, indent=2),
        "jitter_seconds": str(record.jitter_seconds),
        "catch_up": record.catch_up,
        "catch_up_window_seconds": str(record.catch_up_window_seconds),
        "overlap": record.overlap,
        **{k: "" if v is None else str(v) for k, v in optional.items()},
    }


NEW_FORM = {
    "trigger": "cron",
    "timezone": "UTC",
    "kwargs": "{}",
    "jitter_seconds": "0",
    "catch_up": DEFAULTS["catch_up"],
    "catch_up_window_seconds": str(DEFAULTS["catch_up_window_seconds"]),
    "overlap": DEFAULTS["overlap"],
}


@cache
def zone_names() -> list[str]:
    return sorted(available_timezones())


def _form_page(
    record: ScheduleRecord | None, form: Mapping[str, str], errors: ErrorsIn = (), status: int = 200
) -> tuple[str, int]:
    app = manager().app
    page = render_template(
        "schedule_form.html",
        schedule=record,
        form=form,
        errors=in_form_order(errors),
        jobs=sorted(app.registry, key=lambda s: s.name),
        queues=app.settings.broker.queues,
        triggers=TRIGGERS,
        catch_up_choices=CATCH_UP,
        overlap_choices=OVERLAP,
        zones=zone_names(),
    )
    return page, status


def _detail_page(
    name: str, errors: ErrorsIn = (), status: int = 200, backfill: Mapping[str, str] | None = None
) -> tuple[str, int]:
    detail = manager().detail(name)
    page = render_template(
        "schedule.html",
        s=detail.schedule,
        status=detail.status,
        upcoming=detail.upcoming,
        runs=detail.runs,
        errors=errors,
        backfill=backfill or {},
    )
    return page, status


# -- pages --------------------------------------------------------------------------------
@bp.get("/schedules")
def index() -> str:
    offset = max(request.args.get("offset", default=0, type=int), 0)
    records = manager().page(PAGE_SIZE + 1, offset)
    return render_template(
        "schedules.html",
        beat=beat_status(manager().store.engine),
        schedules=records[:PAGE_SIZE],
        statuses=manager().statuses(records[:PAGE_SIZE]),
        offset=offset,
        page_size=PAGE_SIZE,
        more=len(records) > PAGE_SIZE,
    )


@bp.route("/schedules/new", methods=["GET", "POST"])
def new() -> Page:
    if request.method == "GET":
        return _form_page(None, {**NEW_FORM, "job": request.args.get("job", "")})
    form = _posted_form()
    show_errors_with(lambda errors, status: _form_page(None, form, errors, status))
    parsed = parse_schedule_form(form)
    definition = ScheduleDefinition(name=form.get("name", "").strip(), **parsed.values)
    if parsed.errors:
        raise ScheduleError(parsed.errors + other_errors(definition, parsed, manager()))
    record = manager().create(definition, parsed.by, parsed.reason)
    flash(f"Created schedule {record.name}.")
    return redirect(url_for(".detail", name=record.name))


@bp.route("/schedules/<name>/edit", methods=["GET", "POST"])
def edit(name: str) -> Page:
    current = manager().get(name)
    if request.method == "GET":
        return _form_page(current, form_of(current))
    form = _posted_form()
    show_errors_with(lambda errors, status: _form_page(current, form, errors, status))
    parsed = parse_schedule_form(form)
    if parsed.errors:
        definition = replace(current.definition(), **parsed.values)
        raise ScheduleError(parsed.errors + other_errors(definition, parsed, manager()))
    record = manager().update(name, parsed.values, parsed.by, parsed.reason)
    flash(f"Saved schedule {name} (version {record.version}).")
    return redirect(url_for(".detail", name=name))


@bp.get("/schedules/<name>")
def detail(name: str) -> Page:
    return _detail_page(name)


def _change(name: str, action: str) -> Page:
    form = _posted_form()
    parsed = ParsedForm()
    parse_who(form, parsed)
    if parsed.errors:
        return _detail_page(name, parsed.errors, 422)
    m = manager()
    actions: dict[str, Callable[[str, str, str | None], object]] = {
        "pause": m.pause,
        "resume": m.resume,
        "delete": m.delete,
    }
    actions[action](name, parsed.by, parsed.reason)
    done = {"pause": "Paused", "resume": "Resumed", "delete": "Deleted"}[action]
    flash(f"{done} schedule {name}.")
    if action == "delete":
        return redirect(url_for(".index"))
    return redirect(url_for(".detail", name=name))


@bp.post("/schedules/<name>/pause")
def pause(name: str) -> Page:
    return _change(name, "pause")


@bp.post("/schedules/<name>/resume")
def resume(name: str) -> Page:
    """Resume from now: fires missed while paused are not sent."""
    return _change(name, "resume")


@bp.post("/schedules/<name>/delete")
def delete(name: str) -> Page:
    return _change(name, "delete")


@bp.post("/schedules/<name>/run")
def run_now(name: str) -> Page:
    _posted_form()
    show_errors_with(lambda errors, status: _detail_page(name, errors, status))
    run = manager().run_now(name)
    return redirect(url_for("pages.run", run_id=run.id))


@bp.post("/schedules/<name>/backfill")
def backfill(name: str) -> Page:
    """Send every fire in [start, end] that was never sent; again sends only what is missing."""
    form = _posted_form()
    show_errors_with(lambda errors, status: _detail_page(name, errors, status, form))
    errors: Errors = []
    start = parse_instant(form, "start", errors)
    end = parse_instant(form, "end", errors)
    if errors or start is None or end is None:
        manager().get(name)  # an unknown schedule is a 404 before its times are judged
        raise ScheduleError(errors)
    sent = manager().backfill(name, start, end)
    fires = "fire" if len(sent) == 1 else "fires"
    flash(f"Backfill {start.isoformat()} → {end.isoformat()}: sent {len(sent)} {fires}.")
    return redirect(url_for(".detail", name=name))
