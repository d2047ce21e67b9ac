"""What the chaos benchmark feeds in besides the API load: poison messages published
straight onto a work queue, every-second schedules, and the fires those schedules owed."""

from __future__ import annotations

import json
import time
import uuid

import amqp
import httpx
from sqlalchemy import Engine, select

from benchmarks.chaos_count import _connect
from benchmarks.chaos_stack import PREFIX
from broker.names import queue_name
from jobs.store.tables import runs


def publish_poison(broker_url: str, n: int) -> dict[str, str]:
    """Messages no worker can run, straight onto the default work queue; id -> kind."""
    kinds = ["no id header", "JSON object body", "malformed JSON", "pickle", "unknown task"]
    default_key = queue_name(PREFIX, "default")  # routing key = full queue name (topology)
    conn = _connect(broker_url)
    sent: dict[str, str] = {}
    try:
        channel = conn.channel()
        channel.confirm_select()
        for i in range(n):
            kind, run_id = kinds[i % len(kinds)], str(uuid.uuid4())
            headers = {"id": run_id, "task": "chaos_work", "lang": "py", "retries": 0}
            body = json.dumps([[], {"key": "poison"}, {}]).encode()
            ctype = "application/json"
            if kind == "no id header":
                del headers["id"]
            elif kind == "JSON object body":
                body = b'{"not": "a triple"}'
            elif kind == "malformed JSON":
                body = b'{"oops'
            elif kind == "pickle":
                ctype, body = "application/x-python-serialize", b"\x80\x04N."
            else:
                headers["task"] = "no_such_job"
            message = amqp.Message(
                body, content_type=ctype, content_encoding="utf-8", message_id=run_id,
                application_headers=headers, delivery_mode=2,
            )  # fmt: skip
            channel.basic_publish(message, exchange=PREFIX, routing_key=default_key)
            sent[run_id] = kind
    finally:
        conn.close()
    return sent


def create_schedules(api: str, count: int) -> list[str]:
    names = []
    for i in range(count):
        name = f"chaos-{i}-{uuid.uuid4().hex[:6]}"
        body = {
            "name": name, "job": "chaos_work", "trigger": "interval", "interval_seconds": 1,
            "kwargs": {"key": name, "seconds": 0.05}, "catch_up": "all", "overlap": "allow",
        }  # fmt: skip
        response = httpx.post(f"{api}/schedules", json=body, timeout=10)
        response.raise_for_status()
        names.append(name)
    return names


def expected_fires(
    engine: Engine, names: list[str], end: float
) -> tuple[dict[str, float], list[str]]:
    """Fires due from each schedule's first recorded fire until ``end``, every second.

    Returns the recorded ones (run id -> due time, whatever their state) and the due times
    with no run at all (``name@HH:MM:SS``).
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs.c.id, runs.c.schedule, runs.c.scheduled_for).where(
                runs.c.schedule.in_(names)
            )
        ).all()
    recorded = {r.id: r.scheduled_for.timestamp() for r in rows if r.scheduled_for}
    recorded = {run_id: at for run_id, at in recorded.items() if at <= end}
    missing: list[str] = []
    for name in names:
        due = sorted(r.scheduled_for.timestamp() for r in rows if r.schedule == name)
        seen = {round(at) for at in due}
        at = round(due[0]) if due else end
        while at <= end:
            if at not in seen:
                missing.append(f"{name}@{time.strftime('%H:%M:%S', time.gmtime(at))}")
            at += 1
    return recorded, missing
