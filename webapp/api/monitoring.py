"""Monitoring wired into the web application: the change feed, /metrics, /api/events and
the dashboard page, created once per process and started with the application."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from jobs.monitoring.changes import ChangeFeed
from jobs.monitoring.metrics import StateCollector, TaskMetrics
from jobs.monitoring.snapshot import Snapshot
from jobs.store.changes import StoreChanges
from webapp.api import live

log = logging.getLogger(__name__)


class Monitoring:
    def __init__(self, celery_app: Any, poll_interval: float = 0.1) -> None:
        self.snapshot = Snapshot(celery_app)
        self.registry = CollectorRegistry()
        self.metrics = TaskMetrics(self.registry)
        self.registry.register(StateCollector(self.snapshot, log.warning))
        self.feed = ChangeFeed(StoreChanges(celery_app.store.engine), interval=poll_interval)
        self.hub = live.LiveHub()
        self.feed.subscribe(self.metrics)
        self.feed.subscribe(self.hub)

    def start(self) -> None:
        self.hub.attach(asyncio.get_running_loop())
        self.feed.start()

    def stop(self) -> None:
        self.feed.stop()
        self.hub.close()
        self.snapshot.close()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def install_monitoring(api: FastAPI, flask_app: Flask, celery_app: Any) -> Monitoring:
    """Add /metrics, /api/events and the dashboard; call ``start``/``stop`` in the lifespan.

    /metrics is open like the rest of the application until login exists (see README).
    """
    monitoring = Monitoring(celery_app)
    api.state.live = monitoring.hub
    api.state.monitoring = monitoring
    api.include_router(live.router, prefix="/api")

    @api.get("/metrics", include_in_schema=False)
    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(monitoring.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    from webapp.ui.dashboard import bp as dashboard_pages

    flask_app.extensions["beatkeeper_monitoring"] = monitoring
    flask_app.register_blueprint(dashboard_pages)
    return monitoring
