"""Pages: jobs, one job with its enqueue form, runs, one run (live)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.services.jobs import ArgumentsError, JobService, UnknownJobError, UnknownQueueError
from jobs.store.tables import RUN_STATES
from webapp.ui.forms import csrf_ok, csrf_token, parse_form

bp = Blueprint("pages", __name__)


def service() -> JobService:
    svc: JobService = current_app.extensions["beatkeeper"]
    return svc


@bp.app_context_processor
def links() -> dict[str, Any]:
    settings = current_app.config["BEATKEEPER_SETTINGS"]
    return {
        "flower_url": settings.flower_url,
        "rabbitmq_url": settings.rabbitmq_console_url,
        "csrf_token": csrf_token,
        "poll_ms": settings.run_poll_interval_ms,
    }


@bp.get("/")
def jobs() -> str:
    return render_template("jobs.html", jobs=service().jobs(), runs=service().runs(limit=20))


@bp.route("/jobs/<name>", methods=["GET", "POST"])
def job(name: str) -> str | Response | tuple[str, int]:
    try:
        view = service().job(name)
    except UnknownJobError:
        abort(404, f"unknown job {name!r}")
    errors: list[dict[str, str]] = []
    form: dict[str, str] = {}
    if request.method == "POST":
        form = request.form.to_dict()
        if not csrf_ok(form.get("csrf")):
            abort(400, "missing or stale form token; reload the page and submit again")
        queue = form.get("queue") or None
        try:
            run = service().enqueue(name, (), parse_form(view.parameters, form), queue)
        except ArgumentsError as exc:
            errors = exc.errors
        except UnknownQueueError as exc:
            errors = [{"field": "queue", "message": str(exc)}]
        except Exception as exc:  # noqa: BLE001 - broker refused or unreachable: nothing stored
            errors = [{"field": "broker", "message": f"not enqueued, nothing stored: {exc}"}]
        else:
            return redirect(url_for("pages.run", run_id=run.id))
    queues = service().app.settings.broker.queues
    page = render_template(
        "job.html",
        job=view,
        errors=errors,
        form=form,
        queues=queues,
        runs=service().runs(job=name, limit=20),
    )
    return (page, 422) if errors else page


@bp.get("/runs")
def runs() -> str:
    state = request.args.get("state") or None
    if state is not None and state not in RUN_STATES:
        abort(400, f"unknown state {state!r}")
    job = request.args.get("job") or None
    return render_template(
        "runs.html",
        runs=service().runs(job=job, state=state, limit=100),
        state=state,
        job=job,
        states=RUN_STATES,
    )


@bp.get("/runs/<run_id>")
def run(run_id: str) -> str:
    record = service().run(run_id)
    if record is None:
        abort(404, f"no run {run_id!r}")
    return render_template("run.html", run=record)
