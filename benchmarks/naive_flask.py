"""The naive way, as a Flask + Celery tutorial writes it: a view calling ``task.delay``.

Served the tutorial way, by Werkzeug's threaded development server::

    BENCH_NAIVE_QUEUE=bk-bench-x.naive flask --app benchmarks.naive_flask run

Same broker, JSON serializer and publisher confirms as Beatkeeper; the task goes to a
plain durable queue that nothing consumes (the benchmark purges and deletes it).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from flask import Flask, jsonify
from flask import request as flask_request
from flask.typing import ResponseReturnValue
from kombu import Exchange, Queue

BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = os.environ.get("BENCH_NAIVE_QUEUE", "bk-bench.naive")

celery = Celery("naive", broker=BROKER_URL, set_as_current=False)
celery.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_transport_options={"confirm_publish": True},
    broker_connection_retry_on_startup=True,
    task_queues=[Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE, durable=True)],
    task_default_queue=QUEUE,
    task_default_exchange=QUEUE,
    task_default_routing_key=QUEUE,
)


@celery.task(name="naive.runs_report")
def runs_report(hours: int = 24) -> dict[str, Any]:
    return {"hours": hours}  # never runs here: nothing consumes the queue


app = Flask(__name__)


@app.post("/enqueue")
def enqueue() -> ResponseReturnValue:
    result = runs_report.delay(**flask_request.json)
    return jsonify(id=result.id, state="PENDING"), 202
