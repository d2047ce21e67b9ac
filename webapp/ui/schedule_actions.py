"""Actions on one schedule from its page: pause, resume, delete, run now, backfill.

Errors (an unknown schedule, a bad time, the broker down) are shown on the schedule's page
by ``webapp/ui/errors.py``; the routes only say where.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, url_for

from jobs.services.schedules import ScheduleError
from webapp.auth.permissions import Action
from webapp.auth.ui import current_principal, requires
from webapp.ui.errors import show_errors_with
from webapp.ui.schedule_form import Errors, change_note, parse_instant
from webapp.ui.schedule_pages import Page, bp, detail_page, manager, posted_form

# The blueprint of schedule_pages, with these actions added: what webapp.ui registers.
__all__ = ["bp"]

DONE = {"pause": "Paused", "resume": "Resumed", "delete": "Deleted"}


def _change(name: str, action: str) -> Page:
    form = posted_form()
    show_errors_with(lambda errors, status: detail_page(name, errors, status, form, "change"))
    note = change_note(form)
    if note.errors:
        raise ScheduleError(note.errors)
    m = manager()
    actions: dict[str, Callable[[str, str, str | None], object]] = {
        "pause": m.pause,
        "resume": m.resume,
        "delete": m.delete,
    }
    actions[action](name, current_principal().actor(note.changed_by), note.reason)
    flash(f"{DONE[action]} schedule {name}.")
    if action == "delete":
        return redirect(url_for(".index"))
    return redirect(url_for(".detail", name=name))


@bp.post("/schedules/<name>/pause")
@requires(Action.PAUSE_SCHEDULE)
def pause(name: str) -> Page:
    return _change(name, "pause")


@bp.post("/schedules/<name>/resume")
@requires(Action.PAUSE_SCHEDULE)
def resume(name: str) -> Page:
    """Resume from now: fires missed while paused are not sent."""
    return _change(name, "resume")


@bp.post("/schedules/<name>/delete")
@requires(Action.EDIT_SCHEDULES)
def delete(name: str) -> Page:
    return _change(name, "delete")


@bp.post("/schedules/<name>/run")
@requires(Action.RUN_SCHEDULE)
def run_now(name: str) -> Page:
    posted_form()
    show_errors_with(lambda errors, status: detail_page(name, errors, status))
    run = manager().run_now(name)
    return redirect(url_for("pages.run", run_id=run.id))


@bp.post("/schedules/<name>/backfill")
@requires(Action.RUN_SCHEDULE)
def backfill(name: str) -> Page:
    """Send every fire in [start, end] that was never sent; again sends only what is missing."""
    form = posted_form()
    show_errors_with(lambda errors, status: detail_page(name, errors, status, form, "backfill"))
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
