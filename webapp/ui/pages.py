"""Pages: jobs, one job with its enqueue form, runs, one run (live)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.errors import FieldError, Invalid
from jobs.services.jobs import JobService, JobView
from jobs.services.runs import browse_runs
from jobs.store.tables import RUN_STATES
from webapp.ui.errors import show_errors_with
from webapp.ui.forms import csrf_ok, csrf_token, parse_form
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
        "csrf_token": csrf_token,
        "poll_ms": settings.run_poll_interval_ms,
    }


@bp.get("/")
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
    )
    return page, status


@bp.route("/jobs/<name>", methods=["GET", "POST"])
def job(name: str) -> tuple[str, int] | Response:
    view = service().job(name)
    if request.method == "GET":
        return _job_page(view, {})
    form = request.form.to_dict()
    if not csrf_ok(form.get("csrf")):
        abort(400, "missing or stale form token; reload the page and submit again")
    show_errors_with(lambda errors, status: _job_page(view, form, errors, status))
    queue = form.get("queue") or None
    run = service().enqueue(name, (), parse_form(view.parameters, form), queue)
    return redirect(url_for("pages.run", run_id=run.id))


@bp.get("/runs")
def runs() -> str:
    """Newest first, 100 a page (keyset cursor ``after``), filtered by state, job, schedule."""
    filters = {k: request.args.get(k) or None for k in ("state", "job", "schedule")}
    try:
        found = browse_runs(
            service().store.engine, **filters, after=request.args.get("after"), limit=100
        )
    except Invalid as exc:
        abort(400, str(exc))
    return render_template(
        "runs.html",
        runs=found.runs,
        next_cursor=found.next,
        first_page=not request.args.get("after"),
        filters={k: v for k, v in filters.items() if v},
        jobs=[j.name for j in service().jobs()],
        states=RUN_STATES,
        **filters,
    )


@bp.get("/runs/<run_id>")
def run(run_id: str) -> str:
    return render_template("run.html", run=service().run(run_id))
