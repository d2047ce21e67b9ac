from __future__ import annotations

import json

from broker.settings import BrokerSettings
from jobs.factory import create_celery_app, load_registry
from jobs.messages import task_message
from jobs.settings import JobsSettings


def test_a_built_message_is_a_celery_protocol_2_json_message_keyed_by_the_run_id() -> None:
    settings = JobsSettings(broker=BrokerSettings(prefix="bk"))
    app = create_celery_app(settings, load_registry("jobs.examples"))
    queue = app.topology.work_queue("default")

    message = task_message(
        app, task_id="run-1", name="runs_report", kwargs={"hours": 2}, queue=queue
    )

    assert message.message_id == "run-1"
    assert (message.exchange, message.routing_key) == ("bk", "bk.default")
    assert message.headers["id"] == message.headers["root_id"] == "run-1"
    assert message.headers["task"] == "runs_report"
    assert message.properties["content_type"] == "application/json"
    args, kwargs, embed = json.loads(message.body)
    assert (args, kwargs) == ([], {"hours": 2})
    assert set(embed) >= {"callbacks", "errbacks", "chain", "chord"}
