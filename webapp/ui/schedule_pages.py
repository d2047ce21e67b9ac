"""Schedule pages: the list, one schedule with its next fires, and the create/edit form.

Routes stay thin: the form becomes a ScheduleInput (``schedule_form.py``), the ScheduleManager
judges it, and any error it raises is shown beside the form by ``webapp/ui/errors.py``.
Nothing is stored unless every field is valid. The actions on one schedule (pause, resume,
delete, run now, backfill) are in ``schedule_actions.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from zoneinfo import available_timezones

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.schedules.cron_describe import describe_stored
from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind
from jobs.services.health import beat_status
from jobs.services.schedules import ScheduleManager
from jobs.store.schedules import MAX_OFFSET, ScheduleRecord
from webapp.auth.permissions import Action
from webapp.auth.ui import current_principal, requires
from webapp.ui.charts import run_charts
from webapp.ui.errors import show_errors_with
from webapp.ui.resources import ui_resources
from webapp.ui.schedule_form import (
    NEW_FORM,
    ON_FORM,
    ErrorsIn,
    form_input,
    form_of,
    form_preview,
    in_form_order,
)

bp = Blueprint("schedules", __name__)

PAGE_SIZE = 100
Page = str | tuple[str, int] | Response


def manager() -> ScheduleManager:
    return ui_resources().schedules


def posted_form() -> dict[str, str]:
    # Its CSRF token was checked before the view ran (webapp/auth/ui.py).
    return request.form.to_dict()


# -- template helpers ------------------------------------------------------------------------
@bp.app_template_filter("schedule_trigger")
def trigger_text(record: ScheduleRecord) -> str:
    """How a schedule fires, in a few words."""
    if record.trigger == TriggerKind.CRON:
        return f"cron {record.cron}"
    if record.trigger == TriggerKind.INTERVAL and record.interval_seconds is not None:
        seconds = record.interval_seconds
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size and seconds % size == 0:
                return f"every {seconds} s ({seconds // size} {unit})"
        return f"every {seconds} s"
    if record.trigger == TriggerKind.ONCE and record.run_at is not None:
        return f"once at {record.run_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return record.trigger


@bp.app_template_filter("schedule_description")
def description_of(record: ScheduleRecord) -> tuple[str, list[str]]:
    """The schedule in plain language, and notes on what may surprise."""
    return describe_stored(record.build_trigger, datetime.now(UTC))


@cache
def zone_names() -> list[str]:
    return sorted(available_timezones())


def form_page(
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
        triggers=tuple(TriggerKind),
        catch_up_choices=tuple(CatchUp),
        overlap_choices=tuple(Overlap),
        zones=zone_names(),
        on_form=ON_FORM,
        preview=form_preview(form, datetime.now(UTC), None if record is None else record.grid()),
    )
    return page, status


def detail_page(
    name: str,
    errors: ErrorsIn = (),
    status: int = 200,
    form: Mapping[str, str] | None = None,
    where: str = "top",
) -> tuple[str, int]:
    """One schedule; ``errors`` of the form ``where`` (``change``: pause or resume,
    ``backfill``, ``top``: the page's actions) are shown by it, with ``form`` as sent."""
    detail = manager().detail(name)
    page = render_template(
        "schedule.html",
        s=detail.schedule,
        status=detail.status,
        upcoming=detail.upcoming,
        runs=detail.runs,
        charts=run_charts(manager().app.store.engine, datetime.now(UTC), schedule=name),
        errors=errors,
        errors_at=where,
        form=form or {},
    )
    return page, status


# -- pages --------------------------------------------------------------------------------
@bp.get("/schedules")
@requires(Action.READ)
def index() -> str:
    offset = request.args.get("offset", default=0, type=int)
    if not 0 <= offset <= MAX_OFFSET:
        abort(400, f"offset: must be a whole number between 0 and {MAX_OFFSET}")
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
@requires(Action.EDIT_SCHEDULES)
def new() -> Page:
    if request.method == "GET":
        return form_page(None, {**NEW_FORM, "job": request.args.get("job", "")})
    form = posted_form()
    if form.get("preview"):  # the preview button: show the form again, store nothing
        return form_page(None, form)
    show_errors_with(lambda errors, status: form_page(None, form, errors, status))
    given = form_input(form, new=True)
    record = manager().create(given, current_principal().actor(given.changed_by), given.reason)
    flash(f"Created schedule {record.name}.")
    return redirect(url_for(".detail", name=record.name))


@bp.get("/schedules/new/preview")
@requires(Action.READ)
def preview() -> str:
    """The form's live preview, as the form shows it; always 200: a trigger half typed is a
    message in the preview, not an error status (the browser logged a 422 per keystroke)."""
    editing = request.args.get("schedule")
    grid = manager().get(editing).grid() if editing else None
    found = form_preview(request.args, datetime.now(UTC), grid)
    return render_template("_preview.html", preview=found)


@bp.route("/schedules/<name>/edit", methods=["GET", "POST"])
@requires(Action.EDIT_SCHEDULES)
def edit(name: str) -> Page:
    current = manager().get(name)
    if request.method == "GET":
        return form_page(current, form_of(current))
    form = posted_form()
    if form.get("preview"):
        return form_page(current, form)
    show_errors_with(lambda errors, status: form_page(current, form, errors, status))
    given = form_input(form, new=False)
    by = current_principal().actor(given.changed_by)
    record = manager().update(name, given, by, given.reason)
    flash(f"Saved schedule {name} (version {record.version}).")
    return redirect(url_for(".detail", name=name))


@bp.get("/schedules/<name>")
@requires(Action.READ)
def detail(name: str) -> Page:
    return detail_page(name)
