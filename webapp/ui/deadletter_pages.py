"""Dead-letter pages: queues with counts, one queue's messages, one message, re-drive, purge.

Every POST carries the session's CSRF token; purging first shows a page that asks for
confirmation and only a form sent from it (``confirm=yes``) purges.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from jobs.services.deadletters import DeadLetterService, InvalidSelection
from webapp.auth.permissions import Action
from webapp.auth.ui import requires
from webapp.ui.resources import ui_resources

bp = Blueprint("deadletters", __name__, url_prefix="/deadletters")


def service() -> DeadLetterService:
    return ui_resources().deadletters


@bp.app_template_filter("short_queue")
def short_queue(full_name: str) -> str:
    """A work queue's short name (``default``) from its full name, for links to its DLQ."""
    for spec in service().app.topology.work_queues:
        if spec.name == full_name:
            return str(spec.short_name)
    return full_name


@bp.get("")
@requires(Action.READ)
def index() -> str:
    return render_template("deadletter_queues.html", queues=service().queues())


@bp.get("/<queue>")
@requires(Action.READ)
def queue(queue: str) -> str:
    try:
        limit = int(request.args.get("limit", "100"))
    except ValueError:
        abort(400, "limit must be an integer")
    return render_template("deadletters.html", listing=service().list(queue, limit), limit=limit)


@bp.get("/<queue>/messages/<message_id>")
@requires(Action.READ)
def message(queue: str, message_id: str) -> str:
    return render_template("deadletter.html", queue=queue, letter=service().show(queue, message_id))


@bp.post("/<queue>/redrive")
@requires(Action.REDRIVE)
def redrive(queue: str) -> Response:
    """Re-drive the ticked messages (``ids``) or, with ``all=yes``, every message."""
    everything = request.form.get("all") == "yes"
    ids = request.form.getlist("ids")
    if not everything and not ids:
        raise InvalidSelection("ids", "tick at least one message, or re-drive all")
    result = service().redrive(queue, None if everything else ids)
    flash(
        f"re-driven {len(result.ids)} message(s) to {queue}; "
        f"{len(result.runs_requeued)} run(s) back to PENDING",
        "info",
    )
    return redirect(url_for("deadletters.queue", queue=queue))


@bp.get("/<queue>/purge")
@requires(Action.PURGE)
def confirm_purge(queue: str) -> str:
    return render_template("deadletter_purge.html", view=service().queue(queue))


@bp.post("/<queue>/purge")
@requires(Action.PURGE)
def purge(queue: str) -> Response:
    purged = service().purge(queue, confirm=request.form.get("confirm") == "yes")
    flash(f"purged {purged} message(s) from the dead-letter queue of {queue}", "info")
    return redirect(url_for("deadletters.queue", queue=queue))
