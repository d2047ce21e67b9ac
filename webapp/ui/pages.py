"""Pages: jobs, one job with its enqueue form, runs, one run (live)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.errors import FieldError, Invalid
from jobs.services.jobs import JobService, JobView
from jobs.services.run_actions import MAX_BULK
from jobs.services.runs import FILTER_FIELDS, RunPage, browse_runs, parse_filter
from jobs.store.runs import utcnow
from jobs.store.tables import RUN_ORIGINS, RUN_STATES
from webapp.auth.permissions import Action
from webapp.auth.ui import requires
from webapp.ui.charts import run_charts
from webapp.ui.errors import show_errors_with
from webapp.ui.forms import parse_form
from webapp.ui.resources import ui_resources

bp = Blueprint("pages", __name__)


def service() -> JobService:
    return ui_resources().jobs


@bp.app_context_processor
def links() -> dict[str, Any]:
    settings = ui_resources().settings
    return {
        "flower_url": settings.flower_url,
        "rabbitmq_url": settings.rabbitmq_console_url,
    }


@bp.get("/")
@requires(Action.READ)
def jobs() -> str:
    return render_template("jobs.html", jobs=service().jobs(), runs=service().runs(limit=20))


def _job_page(
    view: JobView, form: Mapping[str, str], errors: Sequence[FieldError] = (), status: int = 200
) -> tuple[str, int]:
    page = render_template(
        "job.html",
        job=view,
        errors=errors,
        form=form,
        queues=service().app.settings.broker.queues,
        runs=service().runs(job=view.name, limit=20),
        charts=run_charts(service().store.engine, utcnow(), job=view.name),
    )
    return page, status


@bp.route("/jobs/<name>", methods=["GET", "POST"])
@requires(Action.READ, post=Action.ENQUEUE)
def job(name: str) -> tuple[str, int] | Response:
    view = service().job(name)
    if request.method == "GET":
        return _job_page(view, {})
    form = request.form.to_dict()
    show_errors_with(lambda errors, status: _job_page(view, form, errors, status))
    queue = form.get("queue") or None
    run = service().enqueue(name, (), parse_form(view.parameters, form), queue)
    return redirect(url_for("pages.run", run_id=run.id))


def _filters() -> dict[str, str]:
    return {k: v for k in FILTER_FIELDS if (v := request.args.get(k, "").strip())}


@bp.get("/runs")
@requires(Action.READ)
def runs() -> tuple[str, int]:
    """Newest first, 100 a page (keyset cursor ``after``), filtered as GET /api/runs is."""
    filters = _filters()
    errors: dict[str, str] = {}
    found = RunPage([], None)
    try:
        found = browse_runs(
            service().store.engine, filters, after=request.args.get("after"), limit=100
        )
    except Invalid as exc:
        errors = {e["field"]: e["message"] for e in exc.errors}
    page = render_template(
        "runs.html",
        runs=found.runs,
        next_cursor=found.next,
        first_page=not request.args.get("after"),
        filters=filters,
        errors=errors,
        live_filter={k: v for k, v in filters.items() if k in ("job", "schedule")},
        jobs=[j.name for j in service().jobs()],
        states=RUN_STATES,
        origins=RUN_ORIGINS,
        job=filters.get("job"),
        schedule=filters.get("schedule"),
    )
    return page, 422 if errors else 200


@bp.get("/runs/bulk/<action>")
@requires(Action.CONTROL_RUNS)
def bulk_confirm(action: str) -> str:
    """What a retry or cancel of every matching run would do, with the count, to confirm."""
    filters = _filters()
    # Runs enqueued after this page was drawn are not among those counted: pin the end.
    filters.setdefault("until", utcnow().isoformat(timespec="microseconds"))
    result = ui_resources().run_actions.apply(action, parse_filter(filters), dry_run=True)
    return render_template("runs_bulk.html", result=result, filters=filters, max_bulk=MAX_BULK)


@bp.post("/runs/bulk/<action>")
@requires(Action.CONTROL_RUNS)
def bulk_apply(action: str) -> str:
    filters = _filters()
    result = ui_resources().run_actions.apply(
        action, parse_filter(filters), confirm=request.form.get("confirm") == "yes"
    )
    return render_template("runs_bulk.html", result=result, filters=filters, max_bulk=MAX_BULK)


@bp.get("/runs/<run_id>")
@requires(Action.READ)
def run(run_id: str) -> str:
    return render_template("run.html", run=service().run(run_id))
