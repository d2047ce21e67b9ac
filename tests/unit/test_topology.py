from __future__ import annotations

from typing import Any

from kombu import Queue

from broker.settings import BrokerSettings
from broker.topology import describe, kombu_work_queues
from jobs.factory import celery_config


def test_every_work_queue_is_a_quorum_queue_with_its_own_dead_letter_queue() -> None:
    topology = describe(BrokerSettings(prefix="bk", queues=("default", "slow"), delivery_limit=7))

    assert [q.name for q in topology.work_queues] == ["bk.default", "bk.slow"]
    assert [q.name for q in topology.dead_letter_queues] == ["bk.default.dlq", "bk.slow.dlq"]
    default = topology.work_queue("default").arguments_dict
    assert default == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "bk.dlx",
        "x-dead-letter-routing-key": "bk.default",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-delivery-limit": 7,
    }
    dlq = topology.dead_letter_queues[0]
    assert (dlq.exchange, dlq.routing_key) == ("bk.dlx", "bk.default")
    assert dlq.arguments_dict == {"x-queue-type": "quorum"}


def test_routing_keys_carry_the_prefix_so_deployments_sharing_a_vhost_never_collide() -> None:
    a = describe(BrokerSettings(prefix="one")).work_queue("default")
    b = describe(BrokerSettings(prefix="two")).work_queue("default")
    assert a.routing_key != b.routing_key


def test_workers_and_producers_declare_identical_queues_from_one_definition() -> None:
    from jobs.settings import JobsSettings

    settings = JobsSettings(broker=BrokerSettings(prefix="bk"))
    topology = describe(settings.broker)
    worker_queues: list[Queue] = celery_config(settings, topology)["task_queues"]
    producer_queues = kombu_work_queues(topology)
    assert [_shape(q) for q in worker_queues] == [_shape(q) for q in producer_queues]
    assert all(q.exchange.type == "topic" for q in worker_queues)


def test_the_celery_app_speaks_json_only_and_acks_late() -> None:
    from jobs.settings import JobsSettings

    settings = JobsSettings()
    config = celery_config(settings, describe(settings.broker))
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["task_acks_on_failure_or_timeout"] is False
    assert config["broker_transport_options"] == {"confirm_publish": True}
    assert config["task_default_exchange_type"] == "topic"


def test_held_fires_are_spread_over_hold_queues_that_dead_letter_into_the_work_exchange() -> None:
    topology = describe(BrokerSettings(prefix="bk", hold_shards=3))
    assert topology.hold_exchange.type == "headers"
    assert [q.name for q in topology.hold_queues] == ["bk.delay.0", "bk.delay.1", "bk.delay.2"]
    for shard, queue in enumerate(topology.hold_queues):
        assert queue.arguments_dict["x-dead-letter-exchange"] == "bk"
        assert "x-dead-letter-routing-key" not in queue.arguments_dict  # keeps the message's key
        assert dict(queue.binding_arguments) == {"x-match": "all", "beatkeeper-hold-shard": shard}


def _shape(queue: Any) -> tuple[Any, ...]:
    # Any: kombu sets queue_arguments from its attrs table; its type hints do not declare it.
    return (queue.name, queue.queue_arguments, queue.routing_key, queue.exchange.type)


def test_a_quorum_group_size_reaches_every_queue_beatkeeper_declares() -> None:
    topology = describe(BrokerSettings.from_env({"BEATKEEPER_QUORUM_GROUP_SIZE": "3"}))

    sizes = {
        q.name: q.arguments_dict.get("x-quorum-initial-group-size") for q in topology.all_queues
    }
    assert set(sizes.values()) == {3}, sizes


def test_without_a_quorum_group_size_rabbitmq_keeps_its_default() -> None:
    topology = describe(BrokerSettings.from_env({}))

    assert all("x-quorum-initial-group-size" not in q.arguments_dict for q in topology.all_queues)
