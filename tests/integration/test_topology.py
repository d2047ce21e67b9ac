"""Declaring and verifying the topology on the real RabbitMQ."""

from __future__ import annotations

import pytest
from kombu import Connection

from broker import declare
from broker.settings import BrokerSettings
from broker.topology import describe

pytestmark = pytest.mark.integration


def test_declare_creates_every_queue_and_verify_then_accepts_it(
    rabbitmq_url: str, session_id: str
) -> None:
    topology = describe(BrokerSettings(url=rabbitmq_url, prefix=f"bk-topo-{session_id}"))
    with Connection(rabbitmq_url) as conn:
        try:
            declared = declare.declare(conn, topology)
            assert [s.name for s in declared] == [q.name for q in topology.all_queues]
            assert [s.name for s in declare.verify(conn, topology)] == [
                q.name for q in topology.all_queues
            ]
        finally:
            declare.delete(conn, topology)


def test_verify_reports_a_missing_queue_without_creating_it(
    rabbitmq_url: str, session_id: str
) -> None:
    topology = describe(BrokerSettings(url=rabbitmq_url, prefix=f"bk-none-{session_id}"))
    with Connection(rabbitmq_url) as conn:
        with pytest.raises(declare.TopologyError, match="is missing"):
            declare.verify(conn, topology)
        with pytest.raises(declare.TopologyError, match="is missing"):
            declare.verify(conn, topology)


def test_a_queue_with_other_arguments_is_reported_by_name(
    rabbitmq_url: str, session_id: str
) -> None:
    settings = BrokerSettings(url=rabbitmq_url, prefix=f"bk-drift-{session_id}", delivery_limit=5)
    topology = describe(settings)
    drifted = describe(BrokerSettings(url=rabbitmq_url, prefix=settings.prefix, delivery_limit=9))
    with Connection(rabbitmq_url) as conn:
        try:
            declare.declare(conn, topology)
            with pytest.raises(declare.TopologyError, match=topology.work_queues[0].name):
                declare.verify(conn, drifted)
            with pytest.raises(declare.TopologyError, match="other arguments"):
                declare.declare(conn, drifted)
        finally:
            declare.delete(conn, topology)
