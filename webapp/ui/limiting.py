"""The UI's forms count against the same rate limits as the API (webapp/ratelimits.py)."""

from __future__ import annotations

from flask import Flask, request

from webapp.auth.ui import current_principal
from webapp.ratelimits import Limited, RateLimits

# POSTs whose path (after /schedules/<name>) sends runs rather than changing the schedule.
SENDS_RUNS = ("/run", "/backfill")


def kind_of(path: str) -> Limited | None:
    """Which limit a form POST to ``path`` counts against, if any."""
    if path.startswith(("/jobs/", "/runs/bulk/")):
        return Limited.ENQUEUE
    if path.startswith("/schedules"):
        return Limited.ENQUEUE if path.endswith(SENDS_RUNS) else Limited.SCHEDULES
    return None


def limit_writes(app: Flask, limits: RateLimits) -> None:
    @app.before_request
    def _count() -> None:
        kind = kind_of(request.path) if request.method == "POST" else None
        if kind is not None:
            principal = current_principal()  # set by webapp/auth/ui.py's guard, which runs first
            who = f"{principal.kind}:{principal.name}" if principal.authenticated else None
            limits.hit(kind, who or request.remote_addr or "unknown")
