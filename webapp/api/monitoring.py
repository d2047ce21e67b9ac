"""Monitoring wired into the web application: the change feed, /metrics, /api/events and
the dashboard page, created once per process and started with the application."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from jobs.monitoring.changes import ChangeFeed
from jobs.monitoring.counting import SharedCounts
from jobs.monitoring.metrics import StateCollector, TaskMetrics
from jobs.monitoring.notify import HealthNotifier, shown_url
from jobs.monitoring.snapshot import Snapshot
from jobs.store.changes import StoreChanges
from jobs.store.metric_totals import MetricTotals
from webapp.api import live
from webapp.auth.api import allow
from webapp.auth.permissions import Action

log = logging.getLogger(__name__)


class DeliveryOut(BaseModel):
    id: int
    schedule: str
    old_state: str
    new_state: str
    url: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None


class Monitoring:
    def __init__(
        self,
        celery_app: Any,
        poll_interval: float = 0.05,
        webhook_url: str | None = None,
        notify_interval: float = 5.0,
        lookback: float = 0.25,
    ) -> None:
        engine = celery_app.store.engine
        self.snapshot = Snapshot(celery_app)
        self.totals = MetricTotals(engine)
        self.registry = CollectorRegistry()
        self.metrics = TaskMetrics(self.registry, self.totals, log.warning)
        self.registry.register(StateCollector(self.snapshot, log.warning))
        changes = StoreChanges(engine)
        self.feed = ChangeFeed(changes, interval=poll_interval, fast_overlap=lookback)
        # One web process at a time counts the feed into the store; every one reads the totals.
        owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"
        self.counting = SharedCounts(self.totals, changes, owner)
        self.hub = live.LiveHub()
        self.feed.subscribe(self.counting)
        self.feed.subscribe(self.hub)
        self.notifier = HealthNotifier(celery_app.store.engine, webhook_url)
        self.notify_interval = notify_interval
        self._stop = threading.Event()
        self._notifying: threading.Thread | None = None

    def start(self) -> None:
        self.hub.attach(asyncio.get_running_loop())
        self.feed.start()
        self.counting.start()
        self._notifying = threading.Thread(target=self._notify, name="health-notify", daemon=True)
        self._notifying.start()

    def _notify(self) -> None:
        # Evaluating every schedule costs time proportional to the schedules and their runs:
        # the pause is at least four times the last evaluation, so it stays a background chore.
        pause = self.notify_interval
        while not self._stop.wait(pause):
            started = time.monotonic()
            try:
                self.notifier.tick()
            except Exception:  # the store may be down: try again at the next interval
                log.warning("health notifier failed", exc_info=True)
            pause = max(self.notify_interval, 4 * (time.monotonic() - started))

    def stop(self) -> None:
        self._stop.set()
        if self._notifying is not None:
            self._notifying.join(timeout=10)
        self.feed.stop()
        self.counting.stop()
        self.hub.close()
        self.snapshot.close()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def install_monitoring(api: FastAPI, flask_app: Flask, celery_app: Any) -> Monitoring:
    """Add /metrics, /api/events and the dashboard; call ``start``/``stop`` in the lifespan.

    /metrics and /api/events need the read permission, like every page.
    """
    settings = getattr(api.state, "settings", None)
    monitoring = Monitoring(
        celery_app,
        webhook_url=getattr(settings, "health_webhook_url", None),
        poll_interval=getattr(settings, "live_poll_interval", 0.05),
        lookback=getattr(settings, "live_lookback", 0.25),
    )
    api.state.live = monitoring.hub
    api.state.monitoring = monitoring
    api.include_router(live.router, prefix="/api")

    @api.get(
        "/api/webhook-deliveries",
        tags=["monitoring"],
        response_model=list[DeliveryOut],
        dependencies=[allow(Action.READ)],
    )
    async def webhook_deliveries(
        schedule: str | None = None, limit: int = Query(default=50, ge=1, le=1000)
    ) -> list[DeliveryOut]:
        """Health-change webhook calls, newest first: status, attempts, last error. The URL
        shows only the receiver's scheme, host and port (its path may hold a secret)."""
        found = await run_in_threadpool(monitoring.notifier.store.deliveries, schedule, limit)
        return [DeliveryOut.model_validate({**d.__dict__, "url": shown_url(d.url)}) for d in found]

    # Prometheus scrapes it with a bearer token of scope read (README, Monitoring).
    @api.get("/metrics", include_in_schema=False, dependencies=[allow(Action.READ)])
    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(monitoring.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    from webapp.ui.dashboard import bp as dashboard_pages

    flask_app.extensions["beatkeeper_monitoring"] = monitoring
    flask_app.register_blueprint(dashboard_pages)
    return monitoring
