"""The worker app of ``benchmarks/throughput.py``: Beatkeeper's app plus the plain task."""

from benchmarks.throughput_jobs import add_plain_task
from jobs.celery import app

add_plain_task(app, app.topology.work_queue(app.settings.default_queue).name)

__all__ = ["app"]
