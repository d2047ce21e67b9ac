"""The dashboard: workers, queues and dead letters, throughput, the beat, health, schedules.

Each panel reads one part of the Snapshot and says "unknown" when that part cannot answer
(no management API, no worker replying in time, no lease row yet) instead of failing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, current_app, render_template

from jobs.schedules.health import HealthState
from webapp.auth.permissions import Action
from webapp.auth.ui import requires

bp = Blueprint("dashboard", __name__)


def monitoring() -> Any:
    return current_app.extensions["beatkeeper_monitoring"]


@bp.app_template_filter("console_queue_url")
def console_queue_url(queue: str, console: str) -> str:
    """The RabbitMQ console page of one queue (not the console root)."""
    vhost = monitoring().snapshot.app.settings.broker.vhost
    return f"{console.rstrip('/')}/#/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"


@bp.app_template_filter("age")
def age(value: datetime | None) -> str:
    if value is None:
        return "unknown"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return f"in {-seconds:.0f} s"
    if seconds < 120:
        return f"{seconds:.1f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


@bp.get("/dashboard")
@requires(Action.READ)
def index() -> str:
    snap = monitoring().snapshot
    lease = snap.lease_status()
    now = snap.clock()
    return render_template(
        "dashboard.html",
        workers=snap.worker_rows(),
        queues=snap.queues(),
        throughput=snap.throughput(),
        lease=lease,
        leader_alive=lease is not None and lease.held(now),
        broker=snap.broker(),
        store_error=snap.store_error(),
        by_state=snap.schedules_by_state(),
        states=list(HealthState),
        webhook_url=monitoring().notifier.url,
        deliveries=monitoring().notifier.store.deliveries(limit=10),
    )
