"""/audit: the audit log as a page, newest first, filtered like GET /api/audit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for

from jobs.store.audit import AuditKind, AuditLog
from webapp.auth.permissions import Action
from webapp.auth.ui import requires
from webapp.ui.resources import ui_resources

bp = Blueprint("audit", __name__)
PAGE_SIZE = 100


def _next_url(filters: dict[str, str | None], last_id: int) -> str:
    given: dict[str, Any] = {k: v for k, v in filters.items() if v}
    return url_for(".index", before=last_id, **given)


@bp.get("/audit")
@requires(Action.READ)
def index() -> str:
    filters = {k: request.args.get(k) or None for k in ("kind", "subject", "actor", "action")}
    kind = filters["kind"]
    if kind is not None and kind not in tuple(AuditKind):
        abort(400, f"kind: one of {', '.join(AuditKind)}")
    if any(len(v) > 200 for v in filters.values() if v):
        abort(400, "filters: at most 200 characters each")
    before = request.args.get("before", type=int)
    if before is not None and not 1 <= before <= 2**62:
        abort(400, "before: must be a positive whole number")
    log = AuditLog(ui_resources().schedules.store.engine)
    entries = log.page(**filters, before_id=before, limit=PAGE_SIZE)
    return render_template(
        "audit.html",
        entries=entries,
        filters=filters,
        kinds=list(AuditKind),
        next_url=_next_url(filters, entries[-1].id) if len(entries) == PAGE_SIZE else None,
    )
